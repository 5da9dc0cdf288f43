"""Event handlers (thin; the consumer commits with its inbox row): planning's plan events feed
the read model of plans and their items, planning's period events the read model of periods,
assessment's AssessmentFinalized the list of finalized (read-only) teacher periods."""

from __future__ import annotations

from datetime import datetime

from kinerja_shared.events import (
    AssessmentFinalized,
    Envelope,
    PeriodClosed,
    PeriodOpened,
    PeriodScheduleChanged,
    PeriodStageStarted,
    PlanApproved,
    PlanReturned,
    PlanSubmitted,
)
from kinerja_shared.messaging.streams import ConsumerSpec
from kinerja_shared.uow import UnitOfWork

from kinerja_evidence.domain.model import APPROVED, RETURNED, SUBMITTED
from kinerja_evidence.service_layer import periods
from kinerja_evidence.service_layer.plans import PlanState, record_plan_state

PLANNING_CONSUMER = ConsumerSpec(
    "evidence-planning", "KINERJA_PLANNING", ["kinerja.planning.plan.>"]
)


async def on_plan_submitted(event: PlanSubmitted, envelope: Envelope, uow: UnitOfWork) -> None:
    await record_plan_state(uow.session, _state(event, envelope, SUBMITTED, event.assessor_nip, event.submitted_at))


async def on_plan_approved(event: PlanApproved, envelope: Envelope, uow: UnitOfWork) -> None:
    await record_plan_state(uow.session, _state(event, envelope, APPROVED, event.assessor_nip, event.approved_at))


async def on_plan_returned(event: PlanReturned, envelope: Envelope, uow: UnitOfWork) -> None:
    await record_plan_state(uow.session, _state(event, envelope, RETURNED, None, event.returned_at))


def _state(
    event, envelope: Envelope, status: str, assessor_nip: str | None, occurred_at: datetime
) -> PlanState:
    return PlanState(
        plan_id=event.plan_id,
        period_id=event.period_id,
        teacher_nip=event.teacher_nip,
        school_npsn=event.school_npsn,
        assessor_nip=assessor_nip,
        region=envelope.region,
        status=status,
        revision=event.revision,
        occurred_at=occurred_at,
        items=getattr(event, "items", None),
        monthly_targets=getattr(event, "monthly_targets", None),
        policy=getattr(event, "policy", None),
        competency_points=getattr(event, "competency_points", None) if getattr(event, "items", None) else None,
    )


PLANNING_HANDLERS = {
    PlanSubmitted: on_plan_submitted,
    PlanApproved: on_plan_approved,
    PlanReturned: on_plan_returned,
}


# A consumer of its own (not a wider filter on evidence-planning): an existing durable's
# filter is never changed under running replicas.
PERIODS_CONSUMER = ConsumerSpec(
    "evidence-periods", "KINERJA_PLANNING", ["kinerja.planning.period.>"]
)
ASSESSMENT_CONSUMER = ConsumerSpec(
    "evidence-assessment", "KINERJA_ASSESSMENT", ["kinerja.assessment.assessment.>"]
)


async def on_period_opened(event: PeriodOpened, envelope: Envelope, uow: UnitOfWork) -> None:
    await periods.record_period_opened(uow.session, event, envelope.occurred_at)


async def on_schedule_changed(event: PeriodScheduleChanged, envelope: Envelope, uow: UnitOfWork) -> None:
    await periods.record_schedule_changed(uow.session, event)


async def on_stage_started(event: PeriodStageStarted, envelope: Envelope, uow: UnitOfWork) -> None:
    await periods.record_stage_started(uow.session, event)


async def on_period_closed(event: PeriodClosed, envelope: Envelope, uow: UnitOfWork) -> None:
    await periods.record_period_closed(uow.session, event)


async def on_assessment_finalized(event: AssessmentFinalized, envelope: Envelope, uow: UnitOfWork) -> None:
    await periods.record_assessment_finalized(uow.session, event)


PERIOD_HANDLERS = {
    PeriodOpened: on_period_opened,
    PeriodScheduleChanged: on_schedule_changed,
    PeriodStageStarted: on_stage_started,
    PeriodClosed: on_period_closed,
}
ASSESSMENT_HANDLERS = {AssessmentFinalized: on_assessment_finalized}
