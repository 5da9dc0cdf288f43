"""Event handlers: planning's plan events feed the read model of plans (thin; the consumer
commits with its inbox row)."""

from __future__ import annotations

from datetime import datetime

from kinerja_shared.events import Envelope, PlanApproved, PlanReturned, PlanSubmitted
from kinerja_shared.messaging.streams import ConsumerSpec
from kinerja_shared.uow import UnitOfWork

from kinerja_evidence.domain.model import APPROVED, RETURNED, SUBMITTED
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
    )


PLANNING_HANDLERS = {
    PlanSubmitted: on_plan_submitted,
    PlanApproved: on_plan_approved,
    PlanReturned: on_plan_returned,
}
