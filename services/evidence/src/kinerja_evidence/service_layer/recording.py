"""What every way of uploading ends in: the target checked again in the transaction that
records the row, reuse of the same bytes (SHA-256) detected and flagged, the
EvidenceUploaded event written to the outbox with the row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from kinerja_shared.events.contracts import EvidenceUploaded
from kinerja_shared import access
from kinerja_shared.access_rules import evidence as actions
from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

from kinerja_evidence.adapters.tables import Evidence, PeriodView, PlanItemView, PlanView
from kinerja_evidence.domain.content import ContentPolicy, Inspection, clean_file_name, policy_named
from kinerja_evidence.domain.model import (
    Caller,
    ContentMismatch,
    DamagedContent,
    DuplicateEvidence,
    EvidenceReadOnly,
    PlanItemNotFound,
    UnsupportedContent,
    as_utc,
    check_execution_window,
    check_plan_approved,
    today_in_jakarta,
)
from kinerja_evidence.service_layer import pending
from kinerja_evidence.service_layer.access_checks import require_on_plan
from kinerja_evidence.service_layer.periods import get_period, is_finalized
from kinerja_evidence.service_layer.plans import get_item, get_plan

log = get_logger(__name__)


MAX_REUSE_LISTED = 20


def object_key(school_npsn: str, teacher_nip: str, evidence_id: str) -> str:
    """Generated, never the user's file name."""
    return f"evidence/{school_npsn}/{teacher_nip}/{evidence_id}"


@dataclass
class Target:
    plan: PlanView
    period: PeriodView | None
    item: PlanItemView | None
    policy: ContentPolicy


async def load_target(
    session: AsyncSession, caller: Caller, plan_id: str, item_id: str | None,
    type_limits: dict[str, int] | None = None, today: date | None = None,
) -> Target:
    """The agreed plan of the caller, the item on it, the period's execution window open and
    the teacher's assessment for the period not final yet."""
    access.require_action(caller, actions.EVIDENCE_UPLOAD)
    plan = await get_plan(session, plan_id)
    check_plan_approved(plan)
    assert plan is not None
    require_on_plan(caller, actions.EVIDENCE_UPLOAD, plan)
    item = None
    if item_id:
        item = await get_item(session, plan_id, item_id)
        if item is None:
            raise PlanItemNotFound(item_id)
    period = await get_period(session, plan.period_id)
    check_execution_window(period, today or today_in_jakarta())
    if await is_finalized(session, plan.period_id, plan.teacher_nip):
        raise EvidenceReadOnly()
    policy = policy_named(period.policy if period else plan.policy)
    if type_limits:
        policy = ContentPolicy(policy.name, {**policy.max_bytes, **type_limits},
                               policy.zip_max_uncompressed, policy.zip_max_ratio, policy.zip_max_entries)
    return Target(plan, period, item, policy)


async def check_target(
    uow_factory: UnitOfWorkFactory, caller: Caller, plan_id: str, item_id: str | None,
    *, type_limits: dict[str, int] | None = None, today: date | None = None,
) -> Target:
    async with uow_factory() as uow:
        target = await load_target(uow.session, caller, plan_id, item_id, type_limits, today)
        uow.session.expunge_all()  # readable after the unit of work closes
        return target


def raise_for_inspection(inspection: Inspection, policy: ContentPolicy, declared: str | None = None) -> None:
    if inspection.problem == "type":
        raise UnsupportedContent(inspection.detected, policy.allowed)
    if inspection.problem == "mismatch":
        raise ContentMismatch(inspection.detected, declared or "", inspection.reason or "")
    if inspection.problem == "damaged":
        raise DamagedContent(inspection.detected, inspection.reason or "")


@dataclass
class EvidenceFacts:
    evidence_id: str
    plan_id: str
    item_id: str | None
    object_key: str
    sha256: str
    size_bytes: int
    content_type: str
    raw_file_name: str | None
    method: str


async def record_evidence(
    uow_factory: UnitOfWorkFactory,
    caller: Caller,
    facts: EvidenceFacts,
    *,
    also=None,
    today: date | None = None,
    settle_pending: bool = False,
) -> Evidence:
    """Write the row and EvidenceUploaded in one transaction. ``also(uow)`` runs inside the
    same transaction (a resumable upload marks its session completed there);
    ``settle_pending``: the object's pending record is deleted there too (and the commit
    fails with UploadTooSlow if the sweep has already claimed it).

    Identical uploads racing each other all pass the read in :func:`_earlier_uses`; the
    unique indexes on (plan, item, SHA-256) let exactly one commit. The others answer as a
    sequential repeat does: 409 ``bukti_duplikat`` naming the bukti that won. Their objects
    are under keys of their own (one per evidence id), so the caller's usual clean-up after a
    failed write removes them without touching the winner's."""
    try:
        return await _record(uow_factory, caller, facts, also=also, today=today, settle_pending=settle_pending)
    except IntegrityError:
        existing = await _same_bytes_for_item(uow_factory, facts)
        if existing is None:  # some other constraint: a real fault
            raise
        log.info("evidence.duplicate_lost_race", evidence_id=facts.evidence_id, existing=existing)
        raise DuplicateEvidence(existing) from None


async def _same_bytes_for_item(uow_factory: UnitOfWorkFactory, facts: EvidenceFacts) -> str | None:
    async with uow_factory() as uow:
        return (await uow.session.exec(select(Evidence.evidence_id).where(*_same_item(facts)))).first()


def _same_item(facts: EvidenceFacts) -> tuple:
    return (
        Evidence.sha256 == facts.sha256, Evidence.plan_id == facts.plan_id,
        Evidence.item_id == facts.item_id if facts.item_id else Evidence.item_id.is_(None),  # type: ignore[union-attr]
    )


async def _record(
    uow_factory: UnitOfWorkFactory, caller: Caller, facts: EvidenceFacts, *, also, today: date | None,
    settle_pending: bool = False,
) -> Evidence:
    async with uow_factory() as uow:
        # The plan may have been returned, or the window closed, while the file travelled:
        # check again, in the same transaction as the write.
        target = await load_target(uow.session, caller, facts.plan_id, facts.item_id, today=today)
        plan = target.plan
        reuse_of = await _earlier_uses(uow, facts, plan)
        row = Evidence(
            evidence_id=facts.evidence_id,
            plan_id=plan.plan_id,
            period_id=plan.period_id,
            teacher_nip=plan.teacher_nip,
            school_npsn=plan.school_npsn,
            object_key=facts.object_key,
            sha256=facts.sha256,
            size_bytes=facts.size_bytes,
            content_type=facts.content_type,
            file_name=clean_file_name(facts.raw_file_name),
            uploaded_at=datetime.now(timezone.utc),
            item_id=facts.item_id,
            reuse_flagged=bool(reuse_of),
            reuse_of=json.dumps(reuse_of) if reuse_of else None,
            upload_method=facts.method,
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
                item_id=row.item_id,
                reuse_flagged=row.reuse_flagged,
                reuse_of=[r["evidence_id"] for r in reuse_of],
                upload_method=facts.method,  # type: ignore[arg-type]
            ),
            region=plan.region,
        )
        if also is not None:
            await also(uow)
        if settle_pending:
            await pending.settle(uow, facts.object_key)
        await uow.commit()
        uow.session.expunge(row)
    row.uploaded_at = as_utc(row.uploaded_at)
    if reuse_of:
        log.warning("evidence.reuse_flagged", evidence_id=row.evidence_id, reuse_of=[r["evidence_id"] for r in reuse_of])
    return row


async def _earlier_uses(uow: UnitOfWork, facts: EvidenceFacts, plan: PlanView) -> list[dict]:
    """The same bytes already recorded: for the same item of the same plan that is a plain
    duplicate (refused); anywhere else (another item, period or teacher) it is recorded and
    flagged for the assessor, the "certificate hunting" the old platform let through."""
    same_item = (await uow.session.exec(select(Evidence).where(*_same_item(facts)))).first()
    if same_item is not None:
        raise DuplicateEvidence(same_item.evidence_id)
    # A file passed around a whole district would list thousands: the flag stays, the list
    # keeps the oldest few (enough for the assessor to see the pattern).
    rows = (await uow.session.exec(
        select(Evidence).where(Evidence.sha256 == facts.sha256)
        .order_by(Evidence.uploaded_at).limit(MAX_REUSE_LISTED)  # type: ignore[arg-type]
    )).all()
    earlier = []
    for other in rows:
        earlier.append({
            "evidence_id": other.evidence_id, "teacher_nip": other.teacher_nip,
            "plan_id": other.plan_id, "period_id": other.period_id, "item_id": other.item_id,
        })
    return earlier
