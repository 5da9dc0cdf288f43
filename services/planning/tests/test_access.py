"""Planning enforces the one access policy (kinerja_shared.access, rules in
kinerja_shared.access_rules.planning): the region claim bounds a Dinas, a roster import touches
only schools and people in the importer's scope, periods are managed by the Dinas of the
calendar's region. Real NATS, SQLite and PostgreSQL."""

from __future__ import annotations

from kinerja_shared.testing.http import bearer

from kinerja_planning.adapters.tables import Person
from planning_harness import HEADER, SampleSchool, dinas, new_nip, province_dinas, sistem

# Two districts of province 02 and a district of province 11.
HERE, NEIGHBOUR, ELSEWHERE = "020500", "020600", "110100"


async def _three_schools(planning):
    schools = [SampleSchool(region=r) for r in (HERE, NEIGHBOUR, ELSEWHERE)]
    for school in schools:
        assert (await planning.import_csv(school.csv())).status_code == 201
    period = await planning.open_period()
    plans = []
    for school in schools:
        await planning.set_priorities(school, period["period_id"])
        plans.append(await planning.draft(school, period["period_id"]))
    return schools, period, plans


def _reads(school: SampleSchool, period_id: str, plan_id: str) -> list[str]:
    return [
        f"/v1/schools/{school.npsn}/people",
        f"/v1/readiness/schools/{school.npsn}",
        f"/v1/schools/{school.npsn}/priorities/{period_id}",
        f"/v1/completion/schools/{school.npsn}?period_id={period_id}",
        f"/v1/plans/{plan_id}",
    ]


async def test_the_region_claim_bounds_what_a_dinas_reads(planning):
    (here, neighbour, elsewhere), period, plans = await _three_schools(planning)
    pid = period["period_id"]
    district, province = dinas(HERE), province_dinas()
    operator_district = bearer("operator_dinas", region=HERE)
    for headers, may_see in ((district, {here.npsn}), (operator_district, {here.npsn}),
                             (province, {here.npsn, neighbour.npsn})):
        for school, plan in zip((here, neighbour, elsewhere), plans):
            for path in _reads(school, pid, plan["plan_id"]):
                response = await planning.client.get(path, headers=headers)
                if school.npsn in may_see:
                    assert response.status_code == 200, (path, response.text)
                else:
                    assert response.status_code == 403, (path, response.text)
                    assert response.json()["error"]["code"] == "akses_ditolak"
                    assert school.ks_nip not in response.text and school.guru_nips[0] not in response.text
        # Lists hold only the region's plans, whatever the filters ask for.
        listed = await planning.client.get("/v1/plans", headers=headers)
        assert {p["school_npsn"] for p in listed.json()["plans"]} == may_see
        assert listed.json()["total"] == len(may_see)
        asked = await planning.client.get("/v1/plans", params={"npsn": elsewhere.npsn}, headers=headers)
        assert asked.json()["total"] == 0
    # District reports: own district, or a district of own province.
    for path in (f"/v1/readiness/districts/{NEIGHBOUR}", f"/v1/completion/districts/{NEIGHBOUR}?period_id={pid}"):
        assert (await planning.client.get(path, headers=district)).status_code == 403
        assert (await planning.client.get(path, headers=province)).status_code == 200
        assert (await planning.client.get(path, headers=dinas("110000"))).status_code == 403
    # The sistem identity sees everything.
    everything = await planning.client.get("/v1/plans", headers=sistem())
    assert everything.json()["total"] == 3


async def test_a_dinas_or_pengawas_token_without_its_scope_is_refused_not_national(planning):
    (here, _, _), period, plans = await _three_schools(planning)
    pid = period["period_id"]
    everything = [*_reads(here, pid, plans[0]["plan_id"]), "/v1/plans",
                  f"/v1/readiness/districts/{HERE}", f"/v1/completion/districts/{HERE}?period_id={pid}"]
    # A pengawas reads plans and priorities of those they assess: that needs their NIP.
    pengawas_reads = [f"/v1/schools/{here.npsn}/priorities/{pid}", f"/v1/plans/{plans[0]['plan_id']}", "/v1/plans"]
    for headers, paths in ((dinas(), everything), (bearer("operator_dinas"), everything),
                           (bearer("pengawas", region=HERE), pengawas_reads)):
        for path in paths:
            response = await planning.client.get(path, headers=headers)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["error"]["code"] == "cakupan_tidak_ada", (path, response.text)
    refused = await planning.import_csv(here.csv(), dinas())
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "cakupan_tidak_ada"


async def test_a_pengawas_reads_only_what_they_assess(planning):
    (here, neighbour, _), period, _ = await _three_schools(planning)
    pid = period["period_id"]
    ks_plan = await planning.client.post("/v1/plans", json={"period_id": pid}, headers=here.ks())
    assert ks_plan.status_code == 201, ks_plan.text
    pengawas = bearer("pengawas", nip=here.pengawas_nip, region=HERE)
    listed = await planning.client.get("/v1/plans", headers=pengawas)
    assert [p["plan_id"] for p in listed.json()["plans"]] == [ks_plan.json()["plan_id"]]
    assert (await planning.client.get(f"/v1/schools/{here.npsn}/priorities/{pid}", headers=pengawas)).status_code == 200
    other = await planning.client.get(f"/v1/schools/{neighbour.npsn}/priorities/{pid}", headers=pengawas)
    assert other.status_code == 403 and other.json()["error"]["code"] == "akses_ditolak"


def _guru_line(school: SampleSchool, nip: str, role: str = "guru", assessor: str | None = None) -> str:
    jabatan = "Kepala Sekolah" if role == "kepala_sekolah" else "Guru Kelas"
    return (f"{school.npsn},{school.name},{school.region},{nip},\"Pindahan\",{role},{jabatan},Ahli Pertama,III/a,PNS,"
            f"{assessor or school.ks_nip}")


async def _people(planning) -> dict[str, tuple]:
    from sqlmodel import select
    async with planning.runtime.session_factory() as session:
        rows = (await session.exec(select(Person))).all()
        return {p.nip: (p.npsn, p.role, p.left_at) for p in rows}


async def test_a_roster_import_touches_only_the_importers_scope(planning):
    here, neighbour, elsewhere = (SampleSchool(region=r) for r in (HERE, NEIGHBOUR, ELSEWHERE))
    for school in (here, neighbour, elsewhere):
        assert (await planning.import_csv(school.csv())).status_code == 201
    before, people = await planning.counts(), await _people(planning)

    def refused_lines(response) -> dict[int, list[str]]:
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "roster_di_luar_cakupan" and error["message"] and error["message_en"]
        return {d["line"]: d["problems"] for d in error["details"]}

    # A Dinas of another province empties a school with a complete import: refused, line by line.
    only_ks = "\n".join([HEADER, here.pengawas_line(), here.ks_line()]) + "\n"
    response = await planning.client.post("/v1/roster/imports?complete=true", content=only_ks.encode(),
                                          headers={"Content-Type": "text/csv", **dinas("110000")})
    lines = refused_lines(response)
    assert set(lines) == {2, 3}
    assert f"sekolah NPSN {here.npsn} (kode wilayah {HERE}) di luar cakupan Anda" in lines[3]
    # A district's Dinas may not touch the neighbouring district either.
    assert set(refused_lines(await planning.import_csv(neighbour.csv(), dinas(HERE)))) == {2, 3, 4, 5}

    # An operator sekolah moves another school's guru, its kepala sekolah, or a pengawas in: refused.
    operator = bearer("operator_sekolah", npsn=elsewhere.npsn)
    for nip, role, assessor in ((here.guru_nips[0], "guru", None), (here.ks_nip, "kepala_sekolah", elsewhere.pengawas_nip),
                                (here.pengawas_nip, "guru", None)):
        body = "\n".join([HEADER, _guru_line(elsewhere, nip, role, assessor)]) + "\n"
        lines = refused_lines(await planning.import_csv(body, operator))
        assert list(lines) == [2] and "di luar cakupan Anda" in lines[2][0], lines
    assert await planning.counts() == before and await _people(planning) == people

    # Someone new, or already at the operator's school: imported.
    newcomer = new_nip(1992)
    body = "\n".join([HEADER, _guru_line(elsewhere, newcomer), elsewhere.guru_line(1, name="Guru Satu")]) + "\n"
    ok = await planning.import_csv(body, operator)
    assert ok.status_code == 201, ok.text
    assert (ok.json()["added"], ok.json()["changed"]) == (1, 1)

    # Moving a guru between two districts needs a scope covering both: the province's Dinas.
    move = "\n".join([HEADER, _guru_line(neighbour, here.guru_nips[1], assessor=neighbour.ks_nip)]) + "\n"
    assert set(refused_lines(await planning.import_csv(move, dinas(NEIGHBOUR)))) == {2}
    moved = await planning.import_csv(move, province_dinas())
    assert moved.status_code == 201 and moved.json()["moved"] == 1, moved.text
    assert (await _people(planning))[here.guru_nips[1]][0] == neighbour.npsn


async def test_periods_are_managed_by_the_dinas_of_the_calendars_region(planning):
    body = {"policy": "pmm-2024", "year": 2026, "semester": 1}
    here_ks = SampleSchool().ks()
    for headers, code in ((dinas(HERE), "akses_ditolak"), (dinas("110000"), "akses_ditolak"),
                          (bearer("operator_dinas", region="110000"), "akses_ditolak"),
                          (dinas(), "cakupan_tidak_ada"), (here_ks, "peran_tidak_diizinkan")):
        response = await planning.client.post("/v1/periods", json=body, headers=headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == code, response.text
    assert (await planning.counts())["Period"] == 0
    created = await planning.client.post("/v1/periods", json=body, headers=province_dinas())
    assert created.status_code == 201, created.text
    pid = created.json()["period_id"]
    for path, method, json in ((f"/v1/periods/{pid}/open", "post", None), (f"/v1/periods/{pid}/close", "post", None),
                               (f"/v1/periods/{pid}/schedule", "put", {"late_planning_deadline": "2026-04-15"})):
        for headers in (dinas(HERE), dinas("110000"), here_ks):
            response = await planning.client.request(method.upper(), path, json=json, headers=headers)
            assert response.status_code == 403, (path, response.text)
    assert (await planning.client.get(f"/v1/periods/{pid}", headers=here_ks)).json()["status"] == "scheduled"
    assert (await planning.client.post(f"/v1/periods/{pid}/open", headers=province_dinas())).status_code == 200
    # No calendar region configured: only the sistem identity manages periods.
    planning.settings.period_region = None
    refused = await planning.client.post(f"/v1/periods/{pid}/close", headers=province_dinas())
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "akses_ditolak"
    assert (await planning.client.post(f"/v1/periods/{pid}/close", headers=sistem())).status_code == 200


def test_the_docs_table_is_the_rules():
    from pathlib import Path

    from kinerja_shared import access
    from kinerja_shared.access_rules.planning import ACTIONS

    from kinerja_planning.bootstrap import build

    api = (Path(__file__).resolve().parents[3] / "docs" / "api.md").read_text()
    section = api.split("<!-- access-table:planning -->\n", 1)[1].split("\n<!-- /access-table:planning -->", 1)[0]
    assert section == access.markdown_table(ACTIONS), "docs/api.md: paste access.markdown_table(planning.ACTIONS)"
    # Every operation names its action, and every action is some operation's.
    paths = build()[1].openapi()["paths"]
    declared = {op.get(access.OPENAPI_KEY) for path, ops in paths.items() if path.startswith("/v1/")
                for op in ops.values()}
    assert None not in declared and declared == set(ACTIONS)
