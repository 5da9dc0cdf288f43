"""Plan creation repeated at the same moment (a double click, a retry on a slow connection):
one plan, and every other request answers 409 with the existing plan's id, without an
Idempotency-Key (the natural key: teacher and period) and with one."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

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


async def test_idempotency_key_replays_plan_creation(planning):
    school, period = await planning.school_with_open_period()
    body = {"period_id": period["period_id"]}
    headers = {**school.guru(0), "Idempotency-Key": "rencana-1"}
    first = await planning.client.post("/v1/plans", json=body, headers=headers)
    again = await planning.client.post("/v1/plans", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await planning.client.post("/v1/plans", json={**body, "rangkuman": "lain"}, headers=headers)
    assert (other.status_code, other.json()["error"]["code"]) == (422, "kunci_idempotensi_dipakai_ulang")
    assert await planning.count(PlanRow) == 1
    assert len([m for m in await planning.outbox() if m.event_type == "planning.plan.draft_saved"]) == 1


async def test_ten_concurrent_creations_with_one_key_make_one_plan(planning):
    school, period = await planning.school_with_open_period()
    headers = {**school.guru(0), "Idempotency-Key": "rencana-sepuluh"}
    answers = await asyncio.gather(*(
        planning.client.post("/v1/plans", json={"period_id": period["period_id"]}, headers=headers)
        for _ in range(10)))
    created = [r for r in answers if r.status_code == 201]
    busy = [r for r in answers if r.status_code == 409]
    assert len(created) + len(busy) == 10 and created, [r.text for r in answers]
    assert {r.json()["plan_id"] for r in created} == {created[0].json()["plan_id"]}
    assert {r.json()["error"]["code"] for r in busy} <= {"kunci_idempotensi_sedang_diproses"}
    assert await planning.count(PlanRow) == 1
    assert len([m for m in await planning.outbox() if m.event_type == "planning.plan.draft_saved"]) == 1


async def test_a_503_is_not_kept_under_the_key(planning, monkeypatch):
    from kinerja_planning.service_layer import plans

    school, period = await planning.school_with_open_period()
    real = plans.create_plan
    calls = {"n": 0}

    async def locked_once(*args, **kwargs):  # SQLite's busy timeout ran out on the first try
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT INTO planning_plans ...", {}, sqlite3.OperationalError("database is locked"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(plans, "create_plan", locked_once)
    headers = {**school.guru(0), "Idempotency-Key": "rencana-503"}
    first = await planning.client.post("/v1/plans", json={"period_id": period["period_id"]}, headers=headers)
    assert (first.status_code, first.json()["error"]["code"]) == (503, "basis_data_tidak_tersedia")
    assert first.headers["Retry-After"]
    retry = await planning.client.post("/v1/plans", json={"period_id": period["period_id"]}, headers=headers)
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert await planning.count(PlanRow) == 1
