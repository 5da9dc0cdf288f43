"""Plan creation repeated at the same moment (a double click, a retry on a slow connection):
one plan, and every other request answers 409 with the existing plan's id, without an
Idempotency-Key (the natural key: teacher and period) and with one."""

from __future__ import annotations

import asyncio

import pytest

from kinerja_planning.adapters.tables import PlanRow


@pytest.mark.parametrize("n", [2, 10])
async def test_concurrent_creation_gives_one_plan_and_409s_naming_it(planning, n):
    school, period = await planning.school_with_open_period()
    body = {"period_id": period["period_id"]}
    answers = await asyncio.gather(*(
        planning.client.post("/v1/plans", json=body, headers=school.guru(0)) for _ in range(n)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * (n - 1), [r.text for r in answers]
    [created] = [r.json() for r in answers if r.status_code == 201]
    for r in answers:
        if r.status_code == 409:
            error = r.json()["error"]
            assert error["code"] == "rencana_sudah_ada"
            assert error["details"] == {"plan_id": created["plan_id"]}
    assert await planning.count(PlanRow) == 1
    assert len([m for m in await planning.outbox() if m.event_type == "planning.plan.draft_saved"]) == 1


async def test_a_later_repeat_names_the_existing_plan_too(planning):
    school, period = await planning.school_with_open_period()
    created = await planning.client.post("/v1/plans", json={"period_id": period["period_id"]}, headers=school.guru(0))
    again = await planning.client.post("/v1/plans", json={"period_id": period["period_id"]}, headers=school.guru(0))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "rencana_sudah_ada")
    assert again.json()["error"]["details"] == {"plan_id": created.json()["plan_id"]}
