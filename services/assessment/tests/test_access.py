"""The access policy in the assessment service (issue 11's findings): Dinas settings only in the
Dinas' own region, a pengawas reads only what it assesses, recaps only in the caller's region,
and a scope role without its region claim is refused, never widened to national. Real NATS
JetStream, both databases; every refusal changes nothing."""

from __future__ import annotations

from datetime import datetime, timezone

from kinerja_shared.events import PersonRef
from kinerja_shared.testing.http import bearer

from assessment_harness import (
    GURU, GURU2, KS, KS_AUTH, NPSN, REGION, approved, assessment_for, open_assessments, outbox, publish,
    rate_and_finalize, ratings, roster, snapshot,
)

PENGAWAS = "196805141993031002"  # the KS's assessor in the harness' roster
OTHER_PROVINCE = bearer("dinas", nip="196001011985031009", region="030100")
OTHER_DISTRICT = bearer("dinas", nip="196001011985031008", region="020600")
OWN_DISTRICT = bearer("dinas", nip="196001011985031001", region=REGION)
OWN_PROVINCE = bearer("dinas", nip="196001011985031002", region="020000")


async def test_extensions_and_the_organisation_predikat_only_in_the_dinas_region(service):
    runtime, client, js = service
    period_id, [a] = await open_assessments(runtime, client, js, GURU)
    runtime.clock.set(datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc))  # the window has closed
    extensions = f"/v1/periods/{period_id}/extensions"
    body = {"until": "2026-07-10", "reason": "Banjir"}
    before = await snapshot(runtime)
    for auth in (OTHER_PROVINCE, OTHER_DISTRICT, bearer("operator_dinas", region="030000")):
        r = await client.post(extensions, headers=auth, json={**body, "npsn": NPSN})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "akses_ditolak"), r.text
        r = await client.put(f"/v1/organisations/{NPSN}/predikat", headers=auth,
                             json={"period_id": period_id, "predikat": "ISTIMEWA"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "akses_ditolak"), r.text
    # A dinas without a region claim covers nothing.
    r = await client.post(extensions, headers=bearer("dinas"), json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "cakupan_tidak_ada"), r.text
    assert await snapshot(runtime) == before

    # Every school of the period, granted by another province's Dinas: only that province's
    # schools get it; this school still cannot finalize.
    r = await client.post(extensions, headers=OTHER_PROVINCE, json=body)
    assert r.status_code == 201, r.text
    await client.put(f"/v1/assessments/{a['assessment_id']}/ratings", headers=KS_AUTH, json=ratings())
    r = await client.post(f"/v1/assessments/{a['assessment_id']}/finalize", headers=KS_AUTH)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "batas_penilaian_terlewat"), r.text
    r = await client.get(f"/v1/assessments/{a['assessment_id']}/workbench", headers=KS_AUTH)
    assert r.json()["deadline"]["extended_until"] is None

    # The province's own Dinas, for all its schools: this one may finalize now.
    r = await client.post(extensions, headers=OWN_PROVINCE, json={**body, "until": "2026-07-05"})
    assert r.status_code == 201, r.text
    r = await client.put(f"/v1/organisations/{NPSN}/predikat", headers=OWN_DISTRICT,
                         json={"period_id": period_id, "predikat": "ISTIMEWA"})
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/assessments/{a['assessment_id']}/finalize", headers=KS_AUTH)
    assert r.status_code == 200, r.text
    extended = [m for m in await outbox(runtime) if m.event_type == "assessment.period.deadline_extended"]
    assert len(extended) == 2


async def test_a_pengawas_reads_what_it_assesses_never_its_whole_region(service):
    runtime, client, js = service
    _, [a, b] = await open_assessments(runtime, client, js, GURU, GURU2)
    pengawas = PersonRef(nip=PENGAWAS, name="Bambang Supriadi", role="pengawas", jabatan="Pengawas Sekolah",
                         jenjang="Ahli Madya", golongan="IV/b")
    await publish(js, roster(extra=(pengawas,)))
    ks_plan = "ks-plan-" + a["plan_id"]
    await publish(js, approved(ks_plan, a["period_id"], nip=KS, assessor=PENGAWAS, plan_kind="kepala_sekolah"))
    ks = await assessment_for(client, ks_plan)

    async def nips(headers):
        r = await client.get("/v1/assessments", headers=headers)
        assert r.status_code == 200, r.text
        return sorted(x["teacher_nip"] for x in r.json()["assessments"])

    # With or without a region claim: the principal it assesses, not the school's teachers.
    for auth in (bearer("pengawas", nip=PENGAWAS, region=REGION), bearer("pengawas", nip=PENGAWAS)):
        assert await nips(auth) == [KS]
        r = await client.get(f"/v1/assessments/{a['assessment_id']}", headers=auth)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "akses_ditolak")
        r = await client.get(f"/v1/assessments/{ks['assessment_id']}", headers=auth)
        assert r.status_code == 200
    # Another pengawas of the same district sees none of them.
    assert await nips(bearer("pengawas", nip="196805141993031099", region=REGION)) == []
    r = await client.get(f"/v1/assessments/{b['assessment_id']}/observation",
                         headers=bearer("pengawas", nip="196805141993031099", region=REGION))
    assert r.status_code == 403
    # A pengawas token with neither NIP nor region is refused outright.
    r = await client.get("/v1/assessments", headers=bearer("pengawas"))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "cakupan_tidak_ada")


async def test_recaps_only_in_the_callers_region_and_no_region_is_refused(service):
    runtime, client, js = service
    period_id, [a] = await open_assessments(runtime, client, js, GURU)
    await rate_and_finalize(client, a)
    school = {"period_id": period_id, "level": "school", "code": NPSN}
    for auth in (OWN_DISTRICT, OWN_PROVINCE, KS_AUTH):
        r = await client.get("/v1/recaps", headers=auth, params=school)
        assert r.status_code == 200 and r.json()["totals"]["final"] == 1, r.text
    for auth in (OTHER_PROVINCE, OTHER_DISTRICT, bearer("pengawas", nip=PENGAWAS, region="030100"),
                 bearer("kepala_sekolah", nip="197912302005011006", npsn="20299999")):
        r = await client.get("/v1/recaps", headers=auth, params=school)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "akses_ditolak"), r.text
        r = await client.get(f"/v1/people/{GURU}/angka-kredit", headers=auth)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "akses_ditolak"), r.text

    # No region claim: refused, never the whole country.
    for role in ("dinas", "operator_dinas"):
        auth = bearer(role)
        for path, params in (("/v1/assessments", {}), ("/v1/recaps", school),
                             (f"/v1/assessments/{a['assessment_id']}", {}), (f"/v1/people/{GURU}/annual/2026", {})):
            r = await client.get(path, headers=auth, params=params)
            assert (r.status_code, r.json()["error"]["code"]) == (403, "cakupan_tidak_ada"), (path, r.text)
    r = await client.get("/v1/recaps", headers=bearer("pengawas", nip=PENGAWAS), params=school)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "cakupan_tidak_ada")
    r = await client.get("/v1/assessments", headers=bearer("sistem"))
    assert [x["assessment_id"] for x in r.json()["assessments"]] == [a["assessment_id"]]


async def test_every_operation_declares_its_action(service):
    from kinerja_shared import access

    _, client, _ = service
    document = (await client.get("/openapi.json")).json()
    missing = [f"{method.upper()} {path}" for path, item in document["paths"].items() if path.startswith("/v1/")
               for method, op in item.items() if access.OPENAPI_KEY not in op]
    assert missing == []
    declared = {op[access.OPENAPI_KEY] for item in document["paths"].values() for op in item.values()
                if access.OPENAPI_KEY in op}
    assert all(name.startswith("assessment.") and name in access.RULES for name in declared)
