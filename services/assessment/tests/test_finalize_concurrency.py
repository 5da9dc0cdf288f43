"""Finalize repeated at the same moment (a double click, a retry after a timeout): one final
version and one AssessmentFinalized, every other request 409 ``penilaian_sudah_final`` naming
the assessment and its final version, as a later repeat does. Never a 500."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func
from sqlmodel import select

from kinerja_shared.errors import DependencyUnavailable

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


async def test_idempotency_key_replays_finalize(service):
    runtime, client, js = service
    a = await _rated(runtime, client, js)
    url = f"/v1/assessments/{a['assessment_id']}/finalize"
    headers = {**KS_AUTH, "Idempotency-Key": "final-1"}
    first = await client.post(url, headers=headers)
    again = await client.post(url, headers=headers)
    assert first.status_code == again.status_code == 200, first.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    # Without the key a repeat is the natural-key 409.
    assert (await client.post(url, headers=KS_AUTH)).status_code == 409
    # The key with another body (finalize takes none): refused.
    other = await client.post(url, headers=headers, json={"x": 1})
    assert (other.status_code, other.json()["error"]["code"]) == (422, "kunci_idempotensi_dipakai_ulang")
    assert await _versions(runtime) == 1


async def test_ten_concurrent_finalizes_with_one_key_finalize_once(service):
    runtime, client, js = service
    a = await _rated(runtime, client, js)
    url = f"/v1/assessments/{a['assessment_id']}/finalize"
    headers = {**KS_AUTH, "Idempotency-Key": "final-sepuluh"}
    answers = await asyncio.gather(*(client.post(url, headers=headers) for _ in range(10)))
    done = [r for r in answers if r.status_code == 200]
    busy = [r for r in answers if r.status_code == 409]
    assert len(done) + len(busy) == 10 and done, [r.text for r in answers]
    assert all(r.json() == done[0].json() for r in done)
    assert {r.json()["error"]["code"] for r in busy} <= {"kunci_idempotensi_sedang_diproses"}
    assert await _versions(runtime) == 1
    finalized = [m for m in await outbox(runtime) if m.event_type == "assessment.assessment.finalized"]
    assert len(finalized) == 1


async def test_a_503_finalize_is_not_kept_under_the_key(service, monkeypatch):
    from kinerja_assessment.service_layer import assessments

    runtime, client, js = service
    a = await _rated(runtime, client, js)
    real = assessments.finalize
    calls = {"n": 0}

    async def unreachable_once(*args, **kwargs):  # PostgreSQL restarting on the first try
        calls["n"] += 1
        if calls["n"] == 1:
            raise DependencyUnavailable("database", retry_after_s=2)
        return await real(*args, **kwargs)

    monkeypatch.setattr(assessments, "finalize", unreachable_once)
    url = f"/v1/assessments/{a['assessment_id']}/finalize"
    headers = {**KS_AUTH, "Idempotency-Key": "final-503"}
    first = await client.post(url, headers=headers)
    assert (first.status_code, first.headers["Retry-After"]) == (503, "2")
    retry = await client.post(url, headers=headers)
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers
    assert await _versions(runtime) == 1
