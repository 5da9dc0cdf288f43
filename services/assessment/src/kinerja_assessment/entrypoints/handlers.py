"""Event handlers: thin, they hand the event to the read-model use cases."""

from __future__ import annotations

from kinerja_shared.events import (
    EvidenceUploaded, PeriodOpened, PeriodScheduleChanged, PlanApproved, RosterImported,
)
from kinerja_shared.events.contracts import EvidenceDeleted, EvidenceRejected, EvidenceVerified
from kinerja_shared.messaging.streams import ConsumerSpec

from kinerja_assessment.service_layer import read_model

PLANNING_CONSUMER = ConsumerSpec("assessment-planning", "KINERJA_PLANNING", ["kinerja.planning.>"])
EVIDENCE_CONSUMER = ConsumerSpec("assessment-evidence", "KINERJA_EVIDENCE", ["kinerja.evidence.>"])


async def on_roster_imported(event: RosterImported, _envelope, uow) -> None:
    await read_model.apply_roster(uow, event)


async def on_period_opened(event: PeriodOpened, _envelope, uow) -> None:
    await read_model.apply_period(uow, event)


async def on_schedule_changed(event: PeriodScheduleChanged, _envelope, uow) -> None:
    await read_model.apply_schedule_changed(uow, event)


async def on_plan_approved(event: PlanApproved, _envelope, uow) -> None:
    await read_model.apply_plan_approved(uow, event)


async def on_evidence_uploaded(event: EvidenceUploaded, _envelope, uow) -> None:
    await read_model.apply_evidence_uploaded(uow, event)


async def on_evidence_verified(event: EvidenceVerified, _envelope, uow) -> None:
    await read_model.apply_evidence_verified(uow, event)


async def on_evidence_rejected(event: EvidenceRejected, _envelope, uow) -> None:
    await read_model.apply_evidence_rejected(uow, event)


async def on_evidence_deleted(event: EvidenceDeleted, _envelope, uow) -> None:
    await read_model.apply_evidence_deleted(uow, event)


PLANNING_HANDLERS = {
    RosterImported: on_roster_imported,
    PeriodOpened: on_period_opened,
    PeriodScheduleChanged: on_schedule_changed,
    PlanApproved: on_plan_approved,
}
EVIDENCE_HANDLERS = {
    EvidenceUploaded: on_evidence_uploaded,
    EvidenceVerified: on_evidence_verified,
    EvidenceRejected: on_evidence_rejected,
    EvidenceDeleted: on_evidence_deleted,
}
