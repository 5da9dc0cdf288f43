"""Uploading a bukti dukung: check the plan, check the content, stream the file to object
storage, then record the row and the EvidenceUploaded event in one unit of work. If that
write fails, the object is removed again: never an object without its row."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO

from kinerja_shared.events import EvidenceUploaded
from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_evidence.adapters.storage import HashingReader, ObjectStorage, SizeLimitExceeded
from kinerja_evidence.adapters.tables import Evidence, PlanView
from kinerja_evidence.domain.content import ALLOWED_CONTENT_TYPES, clean_file_name, detect_content_type
from kinerja_evidence.domain.model import (
    Caller,
    EmptyFile,
    FileTooLarge,
    UnsupportedContent,
    as_utc,
    check_may_upload,
)
from kinerja_evidence.service_layer.plans import get_plan

log = get_logger(__name__)


@dataclass
class IncomingFile:
    """A received file, spooled locally (memory first, then a temporary file)."""

    file: BinaryIO
    size: int
    file_name: str | None


async def check_upload_allowed(uow_factory: UnitOfWorkFactory, caller: Caller, plan_id: str) -> PlanView:
    async with uow_factory() as uow:
        plan = await get_plan(uow.session, plan_id)
        check_may_upload(caller, plan)
        uow.session.expunge(plan)  # keep it readable after the unit of work rolls back
        return plan  # type: ignore[return-value]


def object_key(plan: PlanView, evidence_id: str) -> str:
    """Generated, never the user's file name."""
    return f"evidence/{plan.school_npsn}/{plan.teacher_nip}/{evidence_id}"


async def upload_evidence(
    uow_factory: UnitOfWorkFactory,
    storage: ObjectStorage,
    caller: Caller,
    plan_id: str,
    incoming: IncomingFile,
    *,
    max_bytes: int,
) -> Evidence:
    plan = await check_upload_allowed(uow_factory, caller, plan_id)
    if incoming.size == 0:
        raise EmptyFile()
    if incoming.size > max_bytes:
        raise FileTooLarge(max_bytes)
    detection = detect_content_type(incoming.file)
    if not detection.allowed:
        raise UnsupportedContent(detection.detected, ALLOWED_CONTENT_TYPES)

    evidence_id = str(uuid.uuid4())
    key = object_key(plan, evidence_id)
    incoming.file.seek(0)
    reader = HashingReader(incoming.file, max_bytes)
    try:
        await storage.put_stream(key, reader, detection.content_type)  # type: ignore[arg-type]
    except SizeLimitExceeded as exc:  # the SDK has aborted its multipart upload
        raise FileTooLarge(max_bytes) from exc

    try:
        async with uow_factory() as uow:
            # The plan may have been returned while the file travelled: check again, in the
            # same transaction as the write.
            plan = await get_plan(uow.session, plan_id)
            check_may_upload(caller, plan)
            row = Evidence(
                evidence_id=evidence_id,
                plan_id=plan.plan_id,  # type: ignore[union-attr]
                period_id=plan.period_id,  # type: ignore[union-attr]
                teacher_nip=plan.teacher_nip,  # type: ignore[union-attr]
                school_npsn=plan.school_npsn,  # type: ignore[union-attr]
                object_key=key,
                sha256=reader.sha256,
                size_bytes=reader.size,
                content_type=detection.content_type,  # type: ignore[arg-type]
                file_name=clean_file_name(incoming.file_name),
                uploaded_at=datetime.now(timezone.utc),
            )
            uow.session.add(row)
            uow.publish(
                EvidenceUploaded(
                    evidence_id=row.evidence_id,
                    plan_id=row.plan_id,
                    period_id=row.period_id,
                    teacher_nip=row.teacher_nip,
                    school_npsn=row.school_npsn,
                    sha256=row.sha256,
                    size_bytes=row.size_bytes,
                    content_type=row.content_type,
                    file_name=row.file_name,
                    uploaded_at=row.uploaded_at,
                ),
                region=plan.region,  # type: ignore[union-attr]
            )
            await uow.commit()
            uow.session.expunge(row)
    except BaseException:
        await asyncio.shield(_remove_orphan(storage, key))
        raise
    row.uploaded_at = as_utc(row.uploaded_at)
    log.info("evidence.uploaded", evidence_id=evidence_id, plan_id=plan_id, size_bytes=row.size_bytes)
    return row


async def _remove_orphan(storage: ObjectStorage, key: str) -> None:
    try:
        await storage.remove(key)
        log.warning("evidence.object_removed_after_failed_write", object_key=key)
    except Exception as exc:  # left for an operator's sweep; say so loudly
        log.error("evidence.orphan_object", object_key=key, error=str(exc))
