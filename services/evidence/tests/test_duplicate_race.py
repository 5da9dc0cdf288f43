"""The same bytes for the same plan item are one bukti, also when identical uploads race
(a client retrying while its first attempt is still on its way): exactly one 201, the others
409 ``bukti_duplikat`` naming the winner, one row, one EvidenceUploaded, one stored object.
Real S3, real NATS, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import evidence_samples as samples  # noqa: E402

CONCURRENT = 20


def _one_winner(responses: list[httpx.Response]) -> str:
    created = [r for r in responses if r.status_code == 201]
    assert len(created) == 1, [(r.status_code, r.text[:200]) for r in responses]
    winner = created[0].json()["evidence_id"]
    for r in responses:
        if r is created[0]:
            continue
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "bukti_duplikat"
        assert error["details"] == {"evidence_id": winner}
    return winner


async def _exactly_one_stored(service, winner: str) -> None:
    rows = await service.evidence_rows()
    assert [r.evidence_id for r in rows] == [winner]
    assert await service.outbox_events() == ["evidence.evidence.uploaded"]
    # The losers' objects are gone: nothing orphaned in the bucket.
    assert service.objects() == [rows[0].object_key]
    assert service.multipart_uploads() == []


@pytest.mark.parametrize("item_id", ["pk-1", None], ids=["item", "whole-plan"])
async def test_concurrent_identical_uploads_make_one_bukti(service, item_id):
    plan = await service.approved_plan()
    guru = service.guru(plan.teacher_nip)
    responses = await asyncio.gather(*(
        service.upload(plan.plan_id, samples.PDF, headers=guru, item_id=item_id) for _ in range(CONCURRENT)
    ))
    winner = _one_winner(responses)
    await _exactly_one_stored(service, winner)

    # A sequential repeat answers the same way.
    again = await service.upload(plan.plan_id, samples.PDF, headers=guru, item_id=item_id)
    assert (again.status_code, again.json()["error"]["details"]) == (409, {"evidence_id": winner})

    # Withdrawn, the same bytes may be uploaded again (the constraint is over live rows only).
    deleted = await service.client.delete(f"/v1/evidence/{winner}", headers=guru)
    assert deleted.status_code == 204, deleted.text
    fresh = await service.upload(plan.plan_id, samples.PDF, headers=guru, item_id=item_id)
    assert fresh.status_code == 201, fresh.text
    assert [r.evidence_id for r in await service.evidence_rows()] == [fresh.json()["evidence_id"]]


@pytest.mark.parametrize("mode", ["parts", "presigned"])
async def test_concurrent_completions_of_the_same_bytes_make_one_bukti(service, mode):
    plan = await service.approved_plan()
    guru = service.guru(plan.teacher_nip)
    data = samples.PDF
    upload_ids = []
    async with httpx.AsyncClient() as outside:
        for _ in range(4):
            started = await service.start_upload(plan, data, guru, mode=mode)
            assert started.status_code == 201, started.text
            info = started.json()
            if mode == "parts":
                sent = await service.put_part(info["upload_id"], 1, data, guru)
                assert sent.status_code == 200, sent.text
            else:
                assert (await outside.put(info["upload_url"], content=data)).status_code == 200
            upload_ids.append(info["upload_id"])
    responses = await asyncio.gather(*(
        service.client.post(f"/v1/uploads/{u}/complete", headers=guru) for u in upload_ids
    ))
    winner = _one_winner(responses)
    await _exactly_one_stored(service, winner)
