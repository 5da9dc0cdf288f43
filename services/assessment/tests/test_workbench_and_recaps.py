"""The PPK's workbench built from evidence events (including a verification that arrives before
the plan approval and the upload it depends on), the distribution warning, recaps for a school,
district and province, angka kredit and the annual predikat; real NATS JetStream, both databases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

from kinerja_shared.events.contracts import EvidenceDeleted, EvidenceRejected, EvidenceVerified
from kinerja_shared.testing.http import bearer

from assessment_harness import (
    GURU, GURU2, KS, KS_AUTH, NPSN, REGION, applied, approved, assessment_for, eventually, open_assessments, period,
    publish, rate_and_finalize, roster, snapshot, uploaded,
)
from kinerja_assessment.adapters.tables import Assessment

DINAS_AUTH = bearer("dinas", nip="196001011985031001", region=REGION)


def verified(e, item_id: str, at: datetime) -> EvidenceVerified:
    return EvidenceVerified(evidence_id=e.evidence_id, plan_id=e.plan_id, period_id=e.period_id, item_id=item_id,
                            teacher_nip=GURU, school_npsn=NPSN, verified_by=KS, note="sesuai", verified_at=at)


async def test_evidence_events_out_of_order_build_the_workbench(service):
    runtime, client, js = service
    plan_id, period_id = str(uuid.uuid4()), str(uuid.uuid4())
    t0 = datetime(2026, 4, 1, 3, 0, tzinfo=timezone.utc)
    cert = uploaded(plan_id, period_id).model_copy(update={"item_id": "kom-1", "file_name": "sertifikat.pdf"})
    reused = uploaded(plan_id, period_id).model_copy(update={"item_id": "kom-2", "file_name": "kombel.pdf",
                                                              "reuse_flagged": True, "reuse_of": ["ev-lama"]})
    gone = uploaded(plan_id, period_id)
    # The verification comes first, before the upload and before the plan approval it depends
    # on; then a rejection, a deletion, and only then the prerequisites.
    sent = [await publish(js, verified(cert, "kom-1", t0))]
    sent += [await publish(js, EvidenceRejected(evidence_id=reused.evidence_id, plan_id=plan_id, period_id=period_id,
                                       item_id="kom-2", teacher_nip=GURU, school_npsn=NPSN, rejected_by=KS,
                                       reason="Sertifikat dipakai ulang", rejected_at=t0))]
    sent += [await publish(js, e) for e in (cert, reused, gone)]
    sent += [await publish(js, EvidenceDeleted(evidence_id=gone.evidence_id, plan_id=plan_id, period_id=period_id,
                                      teacher_nip=GURU, school_npsn=NPSN, sha256=gone.sha256, deleted_by=GURU,
                                      deleted_at=t0))]
    await asyncio.sleep(0.5)
    async with runtime.session_factory() as s:
        assert await s.get(Assessment, plan_id) is None
    for event in (roster(), period(period_id), approved(plan_id, period_id)):
        await publish(js, event)
    a = await assessment_for(client, plan_id, evidence=2)
    await applied(runtime, *sent)

    async def settled():
        r = await client.get(f"/v1/assessments/{a['assessment_id']}/workbench", headers=KS_AUTH)
        body = r.json()
        return body if body["evidence"]["by_status"] == {"terverifikasi": 1, "ditolak": 1, "dihapus": 1} else None

    body = await eventually(settled)
    items = {e["evidence_id"]: e for e in body["evidence"]["items"]}
    assert items[cert.evidence_id]["file_name"] == "sertifikat.pdf" and items[cert.evidence_id]["uploaded"]
    assert items[reused.evidence_id]["reuse_of"] == ["ev-lama"] and body["evidence"]["reuse_flagged"] == 1
    assert items[reused.evidence_id]["status_note"] == "Sertifikat dipakai ulang"
    assert body["competency"] == {**body["competency"], "target_points": 32, "planned_points": 36, "verified_points": 20}
    assert body["assessment"]["evidence_count"] == 2
    assert body["daily_reports"]["available"] is True and body["daily_reports"]["total"] == 0
    assert body["observation"]["required"] == "if_started" and body["observation"]["next_stage"] == "A"
    # A verification older than the rejection already applied does not undo it.
    await publish(js, verified(reused, "kom-2", datetime(2026, 3, 1, tzinfo=timezone.utc)))
    await publish(js, period(str(uuid.uuid4())))  # a marker behind it on the planning stream
    await asyncio.sleep(0.5)
    r = await client.get(f"/v1/assessments/{a['assessment_id']}/workbench", headers=KS_AUTH)
    assert r.json()["evidence"]["by_status"] == {"terverifikasi": 1, "ditolak": 1, "dihapus": 1}
    # The assessed teacher does not get the assessor's workbench.
    r = await client.get(f"/v1/assessments/{a['assessment_id']}/workbench", headers=bearer("guru", nip=GURU, npsn=NPSN))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "peran_tidak_diizinkan")


async def test_distribution_warning_recaps_angka_kredit_and_annual(service):
    runtime, client, js = service
    period_id, [a, b] = await open_assessments(runtime, client, js, GURU, GURU2)
    # The Dinas sets the school's own predikat; both final as Baik is 100% Baik: a warning.
    r = await client.put(f"/v1/organisations/{NPSN}/predikat", headers=DINAS_AUTH,
                         json={"period_id": period_id, "predikat": "BAIK"})
    assert r.status_code == 200, r.text
    r = await client.put(f"/v1/organisations/{NPSN}/predikat", headers=DINAS_AUTH,
                         json={"period_id": period_id, "predikat": "LUAR_BIASA"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "predikat_organisasi_tidak_valid")
    first = await rate_and_finalize(client, a, "SESUAI", "SESUAI")
    assert first["distribution"]["counts"]["BAIK"] == 1
    await client.put(f"/v1/assessments/{b['assessment_id']}/ratings", headers=KS_AUTH,
                     json={"rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "SESUAI", "reason": "baik"})
    r = await client.get(f"/v1/assessments/{b['assessment_id']}/distribution", headers=KS_AUTH)
    preview = r.json()
    assert (preview["total"], preview["percent"]["BAIK"], preview["organisation_predikat"]) == (2, "100.0", "BAIK")
    assert [w["limit"] for w in preview["warnings"]] == ["maks 70%", "min 1 orang"] and preview["blocking"] is False
    r = await client.post(f"/v1/assessments/{b['assessment_id']}/finalize", headers=KS_AUTH)
    assert r.status_code == 200 and r.json()["distribution"]["warnings"]  # warned, not blocked

    # Recaps: school, district, province; paginated; scoped by role.
    r = await client.get("/v1/recaps", headers=KS_AUTH, params={"period_id": period_id, "level": "school", "code": NPSN})
    assert r.status_code == 200, r.text
    school = r.json()
    assert school["totals"]["final"] == 2 and school["totals"]["per_predikat"]["BAIK"] == 2
    assert school["totals"]["per_jenjang"] == {"MUDA": 1, "PERTAMA": 1}
    assert (school["totals"]["final_on_time"], school["totals"]["completion_percent"]) == (2, "100.0")
    r = await client.get("/v1/recaps", headers=DINAS_AUTH, params={"period_id": period_id, "level": "district", "code": REGION})
    assert [u["unit"] for u in r.json()["units"]] == [NPSN] and r.json()["total_units"] == 1
    province = bearer("dinas", region="020000")
    r = await client.get("/v1/recaps", headers=province, params={"period_id": period_id, "level": "province",
                                                                 "code": "020000", "limit": 1})
    assert [u["unit"] for u in r.json()["units"]] == [REGION] and r.json()["totals"]["total"] == 2
    r = await client.get("/v1/recaps", headers=province, params={"period_id": period_id, "level": "province",
                                                                 "code": "020000", "offset": 1})
    assert r.json()["units"] == [] and r.json()["totals"]["total"] == 2
    for auth, params, code in [
        (KS_AUTH, {"level": "district", "code": REGION}, "akses_ditolak"),
        (DINAS_AUTH, {"level": "province", "code": "020000"}, "akses_ditolak"),
        (DINAS_AUTH, {"level": "desa", "code": REGION}, "tingkat_rekap_tidak_valid"),
    ]:
        r = await client.get("/v1/recaps", headers=auth, params={"period_id": period_id, **params})
        assert r.json()["error"]["code"] == code, r.text

    # Angka kredit: Ahli Muda, Baik, semester 1 = 12.5; then semester 2 Sangat Baik = 18.75.
    s2 = str(uuid.uuid4())
    await publish(js, period(s2, semester=2))
    plan2 = str(uuid.uuid4())
    await publish(js, approved(plan2, s2))
    a2 = await assessment_for(client, plan2)
    runtime.clock.set(datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc))
    await rate_and_finalize(client, a2, "DI_ATAS", "DI_ATAS")
    r = await client.get(f"/v1/people/{GURU}/angka-kredit", headers=bearer("guru", nip=GURU, npsn=NPSN))
    body = r.json()
    assert [p["angka_kredit"] for p in body["periods"]] == ["12.50", "18.75"]
    assert body["progress"] == {**body["progress"], "cumulative": "31.25", "remaining_next_pangkat": "68.75",
                                "remaining_next_jenjang": "168.75"}
    r = await client.get(f"/v1/people/{GURU}/annual/2026", headers=KS_AUTH)
    annual = r.json()
    assert (annual["rule"], annual["annual_predikat"], annual["annual_predikat_code"]) == ("terakhir", "SANGAT_BAIK", 1)
    r = await client.get(f"/v1/people/{GURU}/annual/2026", headers=bearer("guru", nip=GURU2, npsn="20299999"))
    assert r.json()["error"]["code"] == "akses_ditolak"
