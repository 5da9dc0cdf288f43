"""The read model of plans, fed by planning's events (PlanSubmitted, PlanApproved,
PlanReturned). Events may arrive twice, late or out of order: the row is created by whichever
comes first and then only moves forward (see :func:`plan_event_is_newer`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from kinerja_evidence.adapters.tables import MonthlyTargetView, PlanItemView, PlanView
from kinerja_evidence.domain.model import plan_event_is_newer

# A row created "at the beginning of time", so any real event is newer than it.
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class PlanState:
    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    assessor_nip: str | None
    region: str
    status: str
    revision: int
    occurred_at: datetime
    # None: the event does not carry them (PlanReturned, producers before items).
    items: list | None = None
    monthly_targets: list | None = None
    policy: str | None = None
    competency_points: int | None = None


async def record_plan_state(session: AsyncSession, state: PlanState) -> bool:
    """Apply one plan event to the read model (no commit: the caller's unit of work commits).
    Returns True when the state changed."""
    await _insert_if_missing(session, state)
    # Lock the row (PostgreSQL) so two replicas applying two events of one plan take turns.
    row = (
        await session.exec(
            select(PlanView).where(PlanView.plan_id == state.plan_id).with_for_update()
        )
    ).one()
    # An older event may still know the assessor a newer one (PlanReturned) does not carry.
    if row.assessor_nip is None and state.assessor_nip:
        row.assessor_nip = state.assessor_nip
    changed = plan_event_is_newer(row.revision, row.state_at, state.revision, state.occurred_at)
    if changed:
        row.period_id = state.period_id
        row.teacher_nip = state.teacher_nip
        row.school_npsn = state.school_npsn
        row.region = state.region
        row.status = state.status
        row.revision = state.revision
        row.state_at = state.occurred_at
        if state.assessor_nip:
            row.assessor_nip = state.assessor_nip
        if state.policy:
            row.policy = state.policy
        if state.competency_points is not None:
            row.competency_points = state.competency_points
        await _replace_items(session, state)
    elif state.revision == row.revision:
        # An older event of the current revision (its submission, after the PlanReturned that
        # overtook it and carries no items) still brings that revision's items and targets.
        await _replace_items(session, state)
    row.updated_at = datetime.now(timezone.utc)
    session.add(row)
    return changed


async def _replace_items(session: AsyncSession, state: PlanState) -> None:
    """The newer revision's items and targets replace the older ones whole."""
    if state.items:
        await session.exec(delete(PlanItemView).where(PlanItemView.plan_id == state.plan_id))  # type: ignore[call-overload]
        for item in state.items:
            session.add(PlanItemView(
                plan_id=state.plan_id, item_id=item.item_id, kind=item.kind, code=item.code,
                title=item.title[:500], points=item.points,
            ))
    if state.monthly_targets:
        await session.exec(delete(MonthlyTargetView).where(MonthlyTargetView.plan_id == state.plan_id))  # type: ignore[call-overload]
        for target in state.monthly_targets:
            session.add(MonthlyTargetView(
                plan_id=state.plan_id, target_id=target.target_id, month=target.month,
                item_id=target.item_id, description=target.description,
            ))
    await session.flush()


async def get_item(session: AsyncSession, plan_id: str, item_id: str) -> PlanItemView | None:
    return await session.get(PlanItemView, (plan_id, item_id))


async def _insert_if_missing(session: AsyncSession, state: PlanState) -> None:
    # INSERT .. ON CONFLICT DO NOTHING: two replicas creating the same row never collide
    # (a collision would roll back the whole handler transaction).
    dialect = session.bind.dialect.name  # type: ignore[union-attr]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = dict(
        plan_id=state.plan_id,
        period_id=state.period_id,
        teacher_nip=state.teacher_nip,
        school_npsn=state.school_npsn,
        assessor_nip=state.assessor_nip,
        region=state.region,
        status=state.status,
        revision=-1,
        state_at=_EPOCH,
        updated_at=datetime.now(timezone.utc),
    )
    await session.exec(  # type: ignore[call-overload]
        insert(PlanView).values(**values).on_conflict_do_nothing(index_elements=["plan_id"])
    )


async def get_plan(session: AsyncSession, plan_id: str) -> PlanView | None:
    return await session.get(PlanView, plan_id)
