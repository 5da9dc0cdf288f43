"""The access matrix of the planning service (see access_matrix.py): every operation x every
role x every scope, on SQLite, against a roster of four schools in three districts and two
provinces with school A's guru plan submitted."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "services" / "planning" / "tests"))

from access_matrix import (  # noqa: E402
    DISTRICT_D, GURU_RECORD, PROVINCE, SCHOOL, SCHOOL_A, SCHOOL_B, SCHOOLS, Ctx, Op, check, own_record,
)
from planning_harness import EXPECTATIONS, RAPOR, SampleSchool, complete_steps, start_planning  # noqa: E402

from kinerja_shared.access import Resource  # noqa: E402
from kinerja_shared.testing.http import bearer  # noqa: E402
from kinerja_planning.settings import Settings  # noqa: E402

SISTEM = bearer("sistem")


def sample(school) -> SampleSchool:
    return SampleSchool(npsn=school.npsn, region=school.region, name=school.name, ks_nip=school.ks,
                        pengawas_nip=school.pengawas, guru_nips=list(school.gurus))


async def _as_admin(client, method: str, url: str, region: str, **kwargs):
    """A set-up call as sistem, or as the district's dinas while sistem may not."""
    response = await client.request(method, url, headers=SISTEM, **kwargs)
    if response.status_code == 403:
        response = await client.request(method, url, headers=bearer("dinas", region=region), **kwargs)
    assert response.status_code < 300, (method, url, response.text)
    return response


async def seed(p) -> Ctx:
    ctx = Ctx(p.client)
    for school in SCHOOLS:
        csv = sample(school).csv().encode()
        response = await p.client.post("/v1/roster/imports", content=csv,
                                       headers={"Content-Type": "text/csv", **SISTEM})
        if response.status_code == 403:
            response = await p.client.post("/v1/roster/imports", content=csv, headers={
                "Content-Type": "text/csv", **bearer("dinas", region=school.region)})
        assert response.status_code == 201, response.text
    created = await _as_admin(p.client, "POST", "/v1/periods", SCHOOL_A.region,
                              json={"policy": "pmm-2024", "year": 2026, "semester": 1})
    period_id = created.json()["period_id"]
    await _as_admin(p.client, "POST", f"/v1/periods/{period_id}/open", SCHOOL_A.region)
    # A second period for the schedule/open/close cells (the first stays open for the plans).
    spare = await _as_admin(p.client, "POST", "/v1/periods", SCHOOL_A.region,
                            json={"policy": "pmm-2024", "year": 2026, "semester": 2})
    for school in SCHOOLS:
        s = sample(school)
        r = await p.client.put(f"/v1/schools/{school.npsn}/priorities/{period_id}",
                               json={"results": RAPOR, "priorities": ["A.1", "D.1"]}, headers=s.ks())
        assert r.status_code == 200, r.text
    guru = sample(SCHOOL_A).guru(0)
    plan = await p.client.post("/v1/plans", json={"period_id": period_id, **complete_steps()}, headers=guru)
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["plan_id"]
    submitted = await p.client.post(f"/v1/plans/{plan_id}/submit", headers=guru)
    assert submitted.status_code == 200, submitted.text
    ctx.ids.update(period=period_id, spare_period=spare.json()["period_id"], plan=plan_id)
    return ctx


def moving_csv() -> str:
    a, b = sample(SCHOOL_A), sample(SCHOOL_B)
    line = b.guru_line(1).replace(f"{SCHOOL_B.npsn},{SCHOOL_B.name},{SCHOOL_B.region},",
                                  f"{SCHOOL_A.npsn},{SCHOOL_A.name},{SCHOOL_A.region},")
    return "\n".join([a.header(), line.replace(f",{SCHOOL_B.ks}", f",{SCHOOL_A.ks}")]) + "\n"


def school_csv() -> str:
    """School A's kepala sekolah and guru, as its operator would send them (no pengawas: a
    pengawas belongs to a district, outside an operator sekolah's scope)."""
    a = sample(SCHOOL_A)
    return "\n".join([a.header(), a.ks_line(), a.guru_line(0), a.guru_line(1)]) + "\n"


def _plans(body) -> set[str]:
    return {p["plan_id"] for p in body["plans"]}


def _periods(body) -> set[str]:
    return {p["period_id"] for p in body["periods"]}


A, D = SCHOOL_A.npsn, SCHOOL_A.region
# The deployment's calendar is placed at the province (KINERJA_PERIOD_REGION): its Dinas manage
# the periods, a district's may not.
CALENDAR = Resource(region=PROVINCE)
EVERYWHERE = Resource()  # policies and periods are read by anyone signed in ("all")
# A school's priorities are also the pengawas' who assesses its kepala sekolah.
PRIORITIES = Resource(npsn=A, region=D, assessor_nip=SCHOOL_A.pengawas)

# The table: reads first, then the commands (the plan is approved once, the spare period closed
# last). Each entry: the call, the place of what it acts on, and for lists how to find it.
OPS = [
    Op("GET /v1/policies", lambda c, h: c.client.get("/v1/policies", headers=h), EVERYWHERE),
    Op("GET /v1/periods", lambda c, h: c.client.get("/v1/periods", headers=h), EVERYWHERE,
       listing=_periods, target=lambda c: c.period),
    Op("GET /v1/periods/{period_id}", lambda c, h: c.client.get(f"/v1/periods/{c.period}", headers=h), EVERYWHERE),
    Op("GET /v1/plans", lambda c, h: c.client.get("/v1/plans", params={"period_id": c.period}, headers=h),
       GURU_RECORD, listing=_plans, target=lambda c: c.plan),
    Op("GET /v1/plans/inbox", lambda c, h: c.client.get("/v1/plans/inbox", headers=h),
       GURU_RECORD, listing=_plans, target=lambda c: c.plan),
    Op("GET /v1/plans/{plan_id}", lambda c, h: c.client.get(f"/v1/plans/{c.plan}", headers=h), GURU_RECORD),
    Op("GET /v1/schools/{npsn}/people", lambda c, h: c.client.get(f"/v1/schools/{A}/people", headers=h), SCHOOL),
    Op("GET /v1/schools/{npsn}/people.csv", lambda c, h: c.client.get(f"/v1/schools/{A}/people.csv", headers=h), SCHOOL),
    Op("GET /v1/schools/{npsn}/priorities/{period_id}",
       lambda c, h: c.client.get(f"/v1/schools/{A}/priorities/{c.period}", headers=h), PRIORITIES),
    Op("GET /v1/readiness/schools/{npsn}", lambda c, h: c.client.get(f"/v1/readiness/schools/{A}", headers=h), SCHOOL),
    Op("GET /v1/readiness/districts/{code}",
       lambda c, h: c.client.get(f"/v1/readiness/districts/{D}", headers=h), DISTRICT_D),
    Op("GET /v1/completion/schools/{npsn}",
       lambda c, h: c.client.get(f"/v1/completion/schools/{A}", params={"period_id": c.period}, headers=h), SCHOOL),
    Op("GET /v1/completion/districts/{code}",
       lambda c, h: c.client.get(f"/v1/completion/districts/{D}", params={"period_id": c.period}, headers=h),
       DISTRICT_D),
    Op("PUT /v1/plans/{plan_id}/steps/{step}",
       lambda c, h: c.client.put(f"/v1/plans/{c.plan}/steps/rangkuman", json="Rencana", headers=h),
       GURU_RECORD),
    Op("POST /v1/plans/{plan_id}/submit", lambda c, h: c.client.post(f"/v1/plans/{c.plan}/submit", headers=h),
       GURU_RECORD),
    Op("POST /v1/plans/{plan_id}/approve",
       lambda c, h: c.client.post(f"/v1/plans/{c.plan}/approve", json={"perilaku_kerja": EXPECTATIONS}, headers=h),
       GURU_RECORD),
    Op("POST /v1/plans/{plan_id}/return",
       lambda c, h: c.client.post(f"/v1/plans/{c.plan}/return", json={"reason": "Lengkapi"}, headers=h),
       GURU_RECORD),
    Op("POST /v1/plans", lambda c, h: c.client.post("/v1/plans", json={"period_id": c.period, **complete_steps()},
                                                    headers=h), own_record),
    Op("PUT /v1/schools/{npsn}/priorities/{period_id}",
       lambda c, h: c.client.put(f"/v1/schools/{A}/priorities/{c.period}",
                                 json={"results": RAPOR, "priorities": ["A.1", "D.1"]}, headers=h), PRIORITIES),
    Op("POST /v1/roster/imports",
       lambda c, h: c.client.post("/v1/roster/imports", content=school_csv().encode(),
                                  headers={"Content-Type": "text/csv", **h}), SCHOOL),
    # The whole file, with the district's pengawas: the district must be in scope too.
    Op("POST /v1/roster/imports",
       lambda c, h: c.client.post("/v1/roster/imports", content=sample(SCHOOL_A).csv().encode(),
                                  headers={"Content-Type": "text/csv", **h}), (SCHOOL, DISTRICT_D),
       note="with the district's pengawas"),
    # A file of school A that lists one of school B's guru: a move, which needs both schools.
    Op("POST /v1/roster/imports",
       lambda c, h: c.client.post("/v1/roster/imports", content=moving_csv().encode(),
                                  headers={"Content-Type": "text/csv", **h}),
       (SCHOOL, Resource(npsn=SCHOOL_B.npsn, region=SCHOOL_B.region)), note="moves school B's guru into A"),
    Op("POST /v1/periods", lambda c, h: c.client.post(
        "/v1/periods", json={"policy": "pmm-2024", "year": 2027, "semester": 1}, headers=h), CALENDAR),
    Op("PUT /v1/periods/{period_id}/schedule", lambda c, h: c.client.put(
        f"/v1/periods/{c.spare_period}/schedule", json={}, headers=h), CALENDAR),
    Op("POST /v1/periods/{period_id}/open",
       lambda c, h: c.client.post(f"/v1/periods/{c.spare_period}/open", headers=h), CALENDAR),
    Op("POST /v1/periods/{period_id}/close",
       lambda c, h: c.client.post(f"/v1/periods/{c.spare_period}/close", headers=h), CALENDAR),
]


async def test_planning_access_matrix(nats_factory, tmp_path):
    nats_server = nats_factory().start()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'planning.db'}", nats_url=nats_server.url,
                        outbox_poll_interval_s=0.1, period_tick_s=0, period_region=PROVINCE)
    async with start_planning(settings) as p:
        ctx = await seed(p)
        await check("planning", OPS, ctx)
