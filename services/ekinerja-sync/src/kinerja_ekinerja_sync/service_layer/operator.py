"""Operator actions: re-queue a parked record (a final result, an agreed plan or a periodic
review, by its key) once the cause is fixed (the NIP registered by BKD, the SKP Organisasi made, ...). The attempt history is kept; a "requeued" row marks where the
new round starts, and the max-attempts limit counts from there."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlmodel import select

from kinerja_shared.access_rules import ekinerja_sync as actions
from kinerja_shared.auth import Principal
from kinerja_shared.errors import AppError
from kinerja_shared.events.contracts import EkinerjaSyncRequeued
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_ekinerja_sync.adapters.tables import SyncAttempt, SyncRecord
from kinerja_ekinerja_sync.domain import model
from kinerja_ekinerja_sync.domain.mapping import CannotMap
from kinerja_ekinerja_sync.service_layer.queries import _with_attempts, visible

REQUEUED = "requeued"


async def requeue_parked(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    async with uow_factory() as uow:
        # Outside the caller's region a record is "not found": its existence is not shown.
        records = (
            await uow.session.exec(
                select(SyncRecord).where(SyncRecord.assessment_id == assessment_id,
                                         visible(principal, actions.SYNC_RECORD_REQUEUE))
                .order_by(SyncRecord.assessment_version.desc())  # type: ignore[attr-defined]
            )
        ).all()
        if not records:
            raise AppError("rekaman_tidak_ditemukan", "Rekaman sinkronisasi untuk penilaian ini tidak ditemukan.",
                           "No sync record for this assessment.", status_code=404)
        # Only the newest version is ever sent (a periodic review recorded late, older than the
        # newest recording, has a higher number but is superseded at once: not that one).
        record = next((r for r in records if r.status != model.SUPERSEDED), records[0])
        if record.status != model.PARKED:
            raise AppError(
                "rekaman_tidak_diparkir",
                f"Rekaman berstatus '{record.status}', hanya rekaman yang diparkir dapat dikirim ulang.",
                f"The record is '{record.status}'; only parked records can be re-queued.",
                status_code=409, details={"status": record.status},
            )
        who = f"{principal.role} {principal.nip or principal.sub}"
        if record.kind != model.RESULT:
            # A plan or a review is mapped again from planning's latest data (the roster may
            # have been fixed since): what is still missing is said, nothing is re-queued.
            from kinerja_ekinerja_sync.service_layer import intake

            try:
                payload = await intake.payload_now(uow.session, record)
            except CannotMap as problem:
                raise AppError(
                    "rekaman_tidak_dapat_dikirim",
                    f"Data belum lengkap untuk dikirim ke e-Kinerja: {problem.message}",
                    f"Not sendable yet: {problem.message_en}", status_code=409,
                    details={"responsible_actor": problem.responsible_actor},
                ) from None
            intake.requeue(uow, record, payload, by=who, message=f"Dikirim ulang oleh {who}")
            await uow.commit()
            return (await _with_attempts(uow.session, [record]))[0]
        if record.payload is None:
            raise AppError(
                "rekaman_tidak_dapat_dikirim",
                "Data penilaian ini tidak dapat dipetakan ke e-Kinerja; perbaiki datanya lalu finalisasi ulang.",
                "This result cannot be mapped; fix the data and finalize again.", status_code=409,
            )
        previous = record.last_message
        uow.session.add(SyncAttempt(
            record_id=record.id, attempt=record.attempt_count, at=now, outcome=REQUEUED,
            message=f"Dikirim ulang oleh {who}; sebelumnya: {previous or '-'}",
            responsible_actor=None,
        ))
        record.status, record.next_attempt_at, record.updated_at = model.PENDING, now, now
        record.responsible_actor = None
        uow.session.add(record)
        uow.publish(
            EkinerjaSyncRequeued(
                assessment_id=record.assessment_id, assessment_version=record.assessment_version,
                teacher_nip=record.teacher_nip, school_npsn=record.school_npsn, attempt=record.attempt_count,
                requeued_by=who, message=f"Dikirim ulang oleh {who}", previous_message=previous, requeued_at=now,
            ),
            region=record.region,
        )
        await uow.commit()
        return (await _with_attempts(uow.session, [record]))[0]


async def attempts_this_round(session, record_id: str, attempt: int) -> int:
    """Attempts since the last re-queue (all of them when never re-queued)."""
    last = (
        await session.exec(
            select(SyncAttempt.attempt).where(SyncAttempt.record_id == record_id, SyncAttempt.outcome == REQUEUED)
            .order_by(SyncAttempt.attempt.desc()).limit(1)  # type: ignore[attr-defined]
        )
    ).first()
    return attempt - (last or 0)
