"""The read model of periods and of finalized assessments, fed by planning's period events
and assessment's AssessmentFinalized. A schedule change, a stage start or a close that
arrives before the period's PeriodOpened waits (NotReady: retried with a delay)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from kinerja_shared.messaging.consumer import NotReady

from kinerja_evidence.adapters.tables import FinalizedAssessment, PeriodView
from kinerja_evidence.domain.model import as_utc

EXECUTION = "pelaksanaan"


def _execution_window(stages) -> tuple | None:
    for stage in stages or []:
        if stage.stage == EXECUTION:
            return stage.starts_on, stage.ends_on
    return None


async def record_period_opened(session: AsyncSession, event, occurred_at: datetime) -> None:
    row = await session.get(PeriodView, event.period_id, with_for_update=True)
    window = _execution_window(event.stages)
    if row is None:
        row = PeriodView(period_id=event.period_id, policy=event.policy, starts_on=event.starts_on,
                         ends_on=event.ends_on, schedule_at=occurred_at)
        if window:
            row.execution_starts_on, row.execution_ends_on = window
    elif window and as_utc(occurred_at) > as_utc(row.schedule_at):
        # A replayed or re-sent PeriodOpened never undoes a later schedule change.
        row.execution_starts_on, row.execution_ends_on = window
        row.schedule_at = occurred_at
    row.policy = event.policy
    row.starts_on, row.ends_on = event.starts_on, event.ends_on
    row.evidence_required = event.evidence_required
    row.competency_points_min = event.competency_points_min
    row.competency_points_max = event.competency_points_max
    row.competency_points_max_per_activity = event.competency_points_max_per_activity
    row.updated_at = datetime.now(timezone.utc)
    session.add(row)


async def _period_or_wait(session: AsyncSession, period_id: str) -> PeriodView:
    row = await session.get(PeriodView, period_id, with_for_update=True)
    if row is None:
        raise NotReady(f"periode {period_id} belum diketahui (PeriodOpened belum diterapkan)")
    return row


async def record_schedule_changed(session: AsyncSession, event) -> None:
    row = await _period_or_wait(session, event.period_id)
    window = _execution_window(event.stages)
    if as_utc(event.changed_at) <= as_utc(row.schedule_at):
        return  # an older change arriving late
    if window:
        row.execution_starts_on, row.execution_ends_on = window
    row.schedule_at = event.changed_at
    row.updated_at = datetime.now(timezone.utc)
    session.add(row)


async def record_stage_started(session: AsyncSession, event) -> None:
    row = await _period_or_wait(session, event.period_id)
    # The stage carries its window: fill it in when no stages were known yet.
    if event.stage == EXECUTION and row.execution_starts_on is None:
        row.execution_starts_on, row.execution_ends_on = event.starts_on, event.ends_on
        row.updated_at = datetime.now(timezone.utc)
        session.add(row)


async def record_period_closed(session: AsyncSession, event) -> None:
    row = await _period_or_wait(session, event.period_id)
    if row.closed_at is None:
        row.closed_at = event.closed_at
        row.updated_at = datetime.now(timezone.utc)
        session.add(row)


async def record_assessment_finalized(session: AsyncSession, event) -> None:
    """Idempotent: a corrected, re-finalized assessment changes nothing here. The row keeps the
    first finalisation's time whichever of the events is applied first (a correction can
    overtake the original once that was retried)."""
    dialect = session.bind.dialect.name  # type: ignore[union-attr]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(FinalizedAssessment).values(
        period_id=event.period_id, teacher_nip=event.teacher.nip,
        assessment_id=event.assessment_id, finalized_at=event.finalized_at)
    earlier = statement.excluded.finalized_at < FinalizedAssessment.finalized_at
    await session.exec(  # type: ignore[call-overload]
        statement.on_conflict_do_update(
            index_elements=["period_id", "teacher_nip"],
            set_={"finalized_at": case((earlier, statement.excluded.finalized_at), else_=FinalizedAssessment.finalized_at),
                  "assessment_id": case((earlier, statement.excluded.assessment_id),
                                        else_=FinalizedAssessment.assessment_id)},
        )
    )


async def get_period(session: AsyncSession, period_id: str) -> PeriodView | None:
    return await session.get(PeriodView, period_id)


async def is_finalized(session: AsyncSession, period_id: str, teacher_nip: str) -> bool:
    return await session.get(FinalizedAssessment, (period_id, teacher_nip)) is not None
