"""The assessor's verdict on a bukti dukung, and the teacher withdrawing one. Every transition
is an event; nothing changes once the teacher's assessment for the period is final."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from kinerja_shared.events.contracts import EvidenceDeleted, EvidenceRejected, EvidenceVerified
from kinerja_shared import access
from kinerja_shared.access_rules import evidence as actions
from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_evidence.adapters.storage import ObjectStorage
from sqlmodel import select

from kinerja_evidence.adapters.tables import CompetencyRecord, DailyReport, Evidence, PlanView
from kinerja_evidence.domain.model import (
    EVIDENCE_REJECTED,
    EVIDENCE_VERIFIED,
    AccessDenied,
    Caller,
    EvidenceInUse,
    EvidenceNotFound,
    EvidenceReadOnly,
    ReasonRequired,
    invalid_input,
)
from kinerja_evidence.service_layer import pending
from kinerja_evidence.service_layer.access_checks import require_assessor
from kinerja_evidence.service_layer.periods import is_finalized

log = get_logger(__name__)

MAX_REASON = 2000


async def review_evidence(
    uow_factory: UnitOfWorkFactory, caller: Caller, evidence_id: str, decision: str, reason: str | None
) -> Evidence:
    """verified / rejected (with a reason). The same verdict twice changes nothing and
    publishes nothing; the assessor may change their mind until the assessment is final."""
    access.require_action(caller, actions.EVIDENCE_REVIEW)
    if decision not in (EVIDENCE_VERIFIED, EVIDENCE_REJECTED):
        raise invalid_input("harus 'verified' atau 'rejected'", "decision", "decision must be verified or rejected.")
    reason = (reason or "").strip()
    if decision == EVIDENCE_REJECTED and not reason:
        raise ReasonRequired()
    if len(reason) > MAX_REASON:
        raise invalid_input(f"paling panjang {MAX_REASON} karakter", "reason", "reason too long.")
    async with uow_factory() as uow:
        row = await uow.session.get(Evidence, evidence_id, with_for_update=True)
        if row is None:
            raise EvidenceNotFound()
        plan = await uow.session.get(PlanView, row.plan_id)
        if plan is None:
            raise EvidenceNotFound()
        require_assessor(caller, actions.EVIDENCE_REVIEW, plan)
        if await is_finalized(uow.session, row.period_id, row.teacher_nip):
            raise EvidenceReadOnly()
        if row.status == decision and (row.review_reason or "") == reason:
            uow.session.expunge(row)
            return row
        now = datetime.now(timezone.utc)
        row.status, row.review_reason = decision, reason or None
        row.reviewed_by, row.reviewed_at = caller.nip, now
        common = dict(
            evidence_id=row.evidence_id, plan_id=row.plan_id, period_id=row.period_id,
            item_id=row.item_id, teacher_nip=row.teacher_nip, school_npsn=row.school_npsn,
        )
        if decision == EVIDENCE_VERIFIED:
            uow.publish(EvidenceVerified(**common, verified_by=caller.nip or "", note=reason, verified_at=now),
                        region=plan.region)
        else:
            uow.publish(EvidenceRejected(**common, rejected_by=caller.nip or "", reason=reason, rejected_at=now),
                        region=plan.region)
        uow.session.add(row)
        await uow.commit()
        await uow.session.refresh(row)
        uow.session.expunge(row)
    log.info("evidence.reviewed", evidence_id=evidence_id, decision=decision)
    return row


async def delete_evidence(
    uow_factory: UnitOfWorkFactory, storage: ObjectStorage, caller: Caller, evidence_id: str,
    *, after_commit: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """The owner withdraws a file before the assessment is final: the row and the event in one
    transaction with a pending-object record, then the object, then the record (a failed
    removal leaves the record for the sweep; the row is already gone, so nobody is shown a
    file that should not exist)."""
    access.require_action(caller, actions.EVIDENCE_DELETE)
    async with uow_factory() as uow:
        row = await uow.session.get(Evidence, evidence_id, with_for_update=True)
        if row is None:
            raise EvidenceNotFound()
        if not access.allows(caller, actions.EVIDENCE_DELETE,
                             access.Resource(npsn=row.school_npsn, owner_nip=row.teacher_nip)):
            raise AccessDenied()
        if await is_finalized(uow.session, row.period_id, row.teacher_nip):
            raise EvidenceReadOnly()
        # Proof of points or of a day's work does not vanish from under its record.
        records = (await uow.session.exec(select(CompetencyRecord.record_id).where(
            CompetencyRecord.evidence_id == evidence_id, CompetencyRecord.status != EVIDENCE_REJECTED))).all()
        reports = (await uow.session.exec(select(DailyReport.report_id).where(
            DailyReport.plan_id == row.plan_id, DailyReport.evidence_ids.contains(f'"{evidence_id}"')))).all()  # type: ignore[union-attr]
        if records or reports:
            raise EvidenceInUse([*records, *reports])
        plan = await uow.session.get(PlanView, row.plan_id)
        key = row.object_key
        uow.publish(
            EvidenceDeleted(
                evidence_id=row.evidence_id, plan_id=row.plan_id, period_id=row.period_id,
                item_id=row.item_id, teacher_nip=row.teacher_nip, school_npsn=row.school_npsn,
                sha256=row.sha256, deleted_by=caller.nip, deleted_at=datetime.now(timezone.utc),
            ),
            region=plan.region if plan else "",
        )
        await uow.session.delete(row)
        # Durable with the delete: a process killed before the object is removed leaves this
        # record, and the sweep removes the object (service_layer/pending.py).
        pending.note_removal(uow, key)
        await uow.commit()
    if after_commit is not None:  # tests only: the window between the row's commit and the removal
        await after_commit(key)
    await asyncio.shield(pending.discard(uow_factory, storage, key))
    log.info("evidence.deleted", evidence_id=evidence_id)
