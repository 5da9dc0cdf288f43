"""Uploading a bukti dukung in one request: check the target (agreed plan, item, open
execution window, assessment not final), check the content, stream the file to object
storage, then record it (see :mod:`recording`). If anything after the object write fails,
the object is removed again: never an object without its row. A pending-object record
committed before the write covers a process killed in between (:mod:`pending`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_evidence.adapters.storage import HashingReader, ObjectStorage, SizeLimitExceeded
from kinerja_evidence.adapters.tables import Evidence
from kinerja_evidence.domain.content import inspect_content
from kinerja_evidence.domain.model import Caller, EmptyFile, FileTooLarge
from kinerja_evidence.service_layer import pending
from kinerja_evidence.service_layer.recording import (
    EvidenceFacts,
    Target,
    check_target,
    object_key,
    raise_for_inspection,
    record_evidence,
)

log = get_logger(__name__)


@dataclass
class IncomingFile:
    """A received file, spooled locally (memory first, then a temporary file)."""

    file: BinaryIO
    size: int
    file_name: str | None


async def upload_evidence(
    uow_factory: UnitOfWorkFactory,
    storage: ObjectStorage,
    caller: Caller,
    plan_id: str,
    incoming: IncomingFile,
    *,
    max_bytes: int,
    item_id: str | None = None,
    type_limits: dict[str, int] | None = None,
    today: date | None = None,
    checked: Target | None = None,
    after_put: Callable[[str], Awaitable[None]] | None = None,
) -> Evidence:
    """``checked``: the target as checked before the file's bytes were read (same plan and
    item); it is checked again in the transaction that records the file. ``after_put(key)``:
    for tests only, awaited between the object write and the row's commit (the crash window)."""
    target = checked or await check_target(uow_factory, caller, plan_id, item_id, type_limits=type_limits, today=today)
    if incoming.size == 0:
        raise EmptyFile()
    if incoming.size > max_bytes:
        raise FileTooLarge(max_bytes)
    inspection = await asyncio.to_thread(inspect_content, incoming.file, incoming.size, target.policy)
    raise_for_inspection(inspection, target.policy)
    limit = min(max_bytes, target.policy.limit_for(inspection.content_type) or max_bytes)  # type: ignore[arg-type]
    if incoming.size > limit:
        raise FileTooLarge(limit, inspection.content_type)

    evidence_id = str(uuid.uuid4())
    key = object_key(target.plan.school_npsn, target.plan.teacher_nip, evidence_id)
    incoming.file.seek(0)
    reader = HashingReader(incoming.file, limit)
    # Durable before the object exists: a process killed from here until the row commits
    # leaves this record, and the sweep removes the object (service_layer/pending.py).
    await pending.note(uow_factory, key, pending.SINGLE)
    try:
        await storage.put_stream(key, reader, inspection.content_type)  # type: ignore[arg-type]
    except SizeLimitExceeded as exc:  # the SDK has aborted its multipart upload: nothing stored
        await asyncio.shield(pending.forget(uow_factory, key))
        raise FileTooLarge(limit, inspection.content_type) from exc
    # Any other failure of the write (the store away, the request cancelled while the write
    # goes on in its thread) leaves the record: the sweep removes whatever the store kept.

    try:
        if after_put is not None:
            await after_put(key)
        row = await record_evidence(
            uow_factory, caller,
            EvidenceFacts(
                evidence_id=evidence_id, plan_id=plan_id, item_id=item_id, object_key=key,
                sha256=reader.sha256, size_bytes=reader.size,
                content_type=inspection.content_type,  # type: ignore[arg-type]
                raw_file_name=incoming.file_name, method="single",
            ),
            today=today,
            settle_pending=True,
        )
    except BaseException:
        await asyncio.shield(pending.discard(uow_factory, storage, key))
        raise
    log.info("evidence.uploaded", evidence_id=evidence_id, plan_id=plan_id, size_bytes=row.size_bytes)
    return row
