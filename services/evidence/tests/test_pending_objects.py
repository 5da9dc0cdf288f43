"""A process killed between writing an object and committing its row (or between deleting a
row and removing its object) leaves no orphan: the pending-object record committed before the
write lets the sweep remove it, and the sweep never removes an object an evidence row owns.

The crash is simulated without mocks: the service-layer call is held at the crash point by the
test-only hook (``after_put`` / ``after_commit``), exactly as a process frozen there, then the
sweep runs (max age 0) against the real database and the real S3 store. Letting the held
request go on afterwards also covers the race of a slow request with the sweep."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from kinerja_shared.auth import Principal
from kinerja_shared.errors import AppError

from kinerja_evidence.adapters.storage import ObjectStorage
from kinerja_evidence.service_layer import resumable, review
from kinerja_evidence.service_layer.uploads import IncomingFile, upload_evidence

sys.path.insert(0, str(Path(__file__).parent))
import evidence_samples as samples  # noqa: E402


def guru(plan) -> Principal:
    return Principal(sub=plan.teacher_nip, role="guru", nip=plan.teacher_nip, npsn=plan.school_npsn)


class CrashPoint:
    """Holds the request at the hook, as a process frozen (or killed) right there."""

    def __init__(self) -> None:
        self.reached, self.released, self.key = asyncio.Event(), asyncio.Event(), None

    async def __call__(self, key: str) -> None:
        self.key = key
        self.reached.set()
        await self.released.wait()


async def pending_keys(service) -> list[str]:
    from kinerja_evidence.adapters.tables import PendingObject

    async with service.runtime.session_factory() as session:
        return list((await session.exec(select(PendingObject.object_key))).all())


async def test_object_written_before_the_row_commits_is_swept(service):
    plan = await service.approved_plan()
    storage = ObjectStorage.from_settings(service.settings)
    crash = CrashPoint()
    request = asyncio.create_task(upload_evidence(
        service.runtime.uow, storage, guru(plan), plan.plan_id,
        IncomingFile(io.BytesIO(samples.PDF), len(samples.PDF), "laporan.pdf"),
        max_bytes=service.settings.evidence_max_bytes, item_id="pk-1", after_put=crash,
    ))
    await asyncio.wait_for(crash.reached.wait(), 30)
    assert service.objects() == [crash.key]  # written, no row: the orphan a kill -9 leaves
    assert await service.evidence_rows() == []

    await resumable.sweep(service.runtime.uow, storage, pending_max_age_s=0)
    assert service.objects() == []
    assert await service.evidence_rows() == []
    assert await pending_keys(service) == []

    # The request was only frozen and goes on now: its object is gone, so it must not record
    # a row (that would be a row without its object).
    crash.released.set()
    with pytest.raises(AppError) as refused:
        await request
    assert refused.value.code == "unggahan_terlalu_lama"
    assert await service.evidence_rows() == []
    assert service.objects() == []
    assert "evidence.evidence.uploaded" not in await service.outbox_events()


async def test_object_of_a_deleted_row_is_swept(service):
    plan = await service.approved_plan()
    storage = ObjectStorage.from_settings(service.settings)
    uploaded = await service.upload(plan.plan_id, samples.PDF, headers=service.guru(plan.teacher_nip))
    assert uploaded.status_code == 201, uploaded.text
    evidence_id = uploaded.json()["evidence_id"]
    [key] = service.objects()

    crash = CrashPoint()
    request = asyncio.create_task(review.delete_evidence(
        service.runtime.uow, storage, guru(plan), evidence_id, after_commit=crash))
    await asyncio.wait_for(crash.reached.wait(), 30)
    assert await service.evidence_rows() == []
    assert service.objects() == [key]  # row gone, object left: the orphan a kill -9 leaves

    await resumable.sweep(service.runtime.uow, storage, pending_max_age_s=0)
    assert service.objects() == []
    assert await pending_keys(service) == []

    crash.released.set()
    await request  # removing an object already gone is fine
    assert service.objects() == [] and await pending_keys(service) == []


async def test_sweep_never_removes_an_object_with_an_evidence_row(service):
    from kinerja_evidence.adapters.tables import PendingObject

    plan = await service.approved_plan()
    storage = ObjectStorage.from_settings(service.settings)
    uploaded = await service.upload(plan.plan_id, samples.PDF, headers=service.guru(plan.teacher_nip))
    assert uploaded.status_code == 201, uploaded.text
    [row] = await service.evidence_rows()
    assert await pending_keys(service) == []  # the commit settled its record

    # A record left over for a committed upload (old enough to be swept).
    async with service.runtime.uow() as uow:
        uow.session.add(PendingObject(object_key=row.object_key, reason="single",
                                      created_at=datetime.now(timezone.utc) - timedelta(days=1)))
        await uow.commit()
    await resumable.sweep(service.runtime.uow, storage, pending_max_age_s=0)
    assert service.objects() == [row.object_key]
    assert [r.evidence_id for r in await service.evidence_rows()] == [row.evidence_id]
    assert await pending_keys(service) == []  # the stale record is dropped

    # And a young record (a request still on its way) is left alone by the default age.
    async with service.runtime.uow() as uow:
        uow.session.add(PendingObject(object_key="evidence/x/y/in-flight", reason="single"))
        await uow.commit()
    await resumable.sweep(service.runtime.uow, storage, pending_max_age_s=3600)
    assert await pending_keys(service) == ["evidence/x/y/in-flight"]
