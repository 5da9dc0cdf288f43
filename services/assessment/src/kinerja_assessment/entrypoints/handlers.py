"""Event handlers: thin, they hand the event to the read-model use cases."""

from __future__ import annotations

from kinerja_shared.events import (
    EvidenceUploaded, PeriodOpened, PeriodScheduleChanged, PlanApproved, RosterImported,
)
from kinerja_shared.events.contracts import (
    DailyReportReviewed, DailyReportSubmitted, EvidenceDeleted, EvidenceRejected, EvidenceVerified,
)
from kinerja_shared.messaging.streams import ConsumerSpec

from kinerja_assessment.service_layer import read_model

PLANNING_CONSUMER = ConsumerSpec("assessment-planning", "KINERJA_PLANNING", ["kinerja.planning.>"])
EVIDENCE_CONSUMER = ConsumerSpec("assessment-evidence", "KINERJA_EVIDENCE", ["kinerja.evidence.>"])


def _applying(apply):
    """A handler that applies the event to the read model (the consumer commits it with the
    inbox row; a conflicting insert fails the commit and the event is retried)."""

    async def handle(event, _envelope, uow) -> None:
        await apply(uow, event)

    handle.__name__ = handle.__qualname__ = f"on_{apply.__name__.removeprefix('apply_')}"
    return handle


async def on_roster(event: RosterImported, envelope, uow) -> None:
    # By the envelope's time: a roster retried after a newer one must not undo it.
    await read_model.apply_roster(uow, event, envelope.occurred_at)


PLANNING_HANDLERS = {
    RosterImported: on_roster,
    PeriodOpened: _applying(read_model.apply_period),
    PeriodScheduleChanged: _applying(read_model.apply_schedule_changed),
    PlanApproved: _applying(read_model.apply_plan_approved),
}
EVIDENCE_HANDLERS = {
    EvidenceUploaded: _applying(read_model.apply_evidence_uploaded),
    EvidenceVerified: _applying(read_model.apply_evidence_verified),
    EvidenceRejected: _applying(read_model.apply_evidence_rejected),
    EvidenceDeleted: _applying(read_model.apply_evidence_deleted),
    DailyReportSubmitted: _applying(read_model.apply_daily_report_submitted),
    DailyReportReviewed: _applying(read_model.apply_daily_report_reviewed),
}
