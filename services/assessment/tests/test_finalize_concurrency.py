"""Finalize repeated at the same moment (a double click, a retry after a timeout): one final
version and one AssessmentFinalized, every other request 409 ``penilaian_sudah_final`` naming
the assessment and its final version, as a later repeat does. Never a 500."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func
from sqlmodel import select

from kinerja_assessment.adapters.tables import AssessmentVersion

from assessment_harness import GURU, KS_AUTH, open_assessments, outbox, ratings


async def _rated(runtime, client, js) -> dict:
    _, [a] = await open_assessments(runtime, client, js, GURU)
    r = await client.put(f"/v1/assessments/{a['assessment_id']}/ratings", headers=KS_AUTH, json=ratings())
    assert r.status_code == 200, r.text
    return a


async def _versions(runtime) -> int:
    async with runtime.session_factory() as s:
        return (await s.exec(select(func.count()).select_from(AssessmentVersion))).one()


@pytest.mark.parametrize("n", [2, 10])
async def test_concurrent_finalize_gives_one_version_and_409s(service, n):
    runtime, client, js = service
    a = await _rated(runtime, client, js)
    url = f"/v1/assessments/{a['assessment_id']}/finalize"
    answers = await asyncio.gather(*(client.post(url, headers=KS_AUTH) for _ in range(n)))
    assert sorted(r.status_code for r in answers) == [200] + [409] * (n - 1), [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            error = r.json()["error"]
            assert error["code"] == "penilaian_sudah_final"
            assert error["details"] == {"assessment_id": a["assessment_id"], "version": 1}
    assert await _versions(runtime) == 1
    finalized = [m for m in await outbox(runtime) if m.event_type == "assessment.assessment.finalized"]
    assert len(finalized) == 1


async def test_a_later_repeat_names_the_final_version_too(service):
    runtime, client, js = service
    a = await _rated(runtime, client, js)
    url = f"/v1/assessments/{a['assessment_id']}/finalize"
    assert (await client.post(url, headers=KS_AUTH)).status_code == 200
    again = await client.post(url, headers=KS_AUTH)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "penilaian_sudah_final")
    assert again.json()["error"]["details"] == {"assessment_id": a["assessment_id"], "version": 1}
