"""Event handlers: thin, they hand the event to the read-model use cases."""

from __future__ import annotations

from kinerja_shared.events import (
    EvidenceUploaded, PeriodOpened, PeriodScheduleChanged, PlanApproved, RosterImported,
)
from kinerja_shared.events.contracts import (
    DailyReportReviewed, DailyReportSubmitted, EvidenceDeleted, EvidenceRejected, EvidenceVerified,
)
from kinerja_shared.messaging.streams import ConsumerSpec
from sqlalchemy.exc import IntegrityError

from kinerja_assessment.service_layer import read_model

PLANNING_CONSUMER = ConsumerSpec("assessment-planning", "KINERJA_PLANNING", ["kinerja.planning.>"])
EVIDENCE_CONSUMER = ConsumerSpec("assessment-evidence", "KINERJA_EVIDENCE", ["kinerja.evidence.>"])


async def _flush(uow) -> None:
    """Write the handler's effects now: a row another event inserted meanwhile (events applied
    concurrently) fails here and is retried, instead of failing at commit, where the consumer
    would take the IntegrityError for a duplicate delivery and acknowledge the event unapplied."""
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise read_model.ConcurrentInsert("baris yang sama baru saja dicatat oleh event lain") from exc


def _applying(apply):
    """A handler that applies the event to the read model and flushes at once (see _flush)."""

    async def handle(event, _envelope, uow) -> None:
        await apply(uow, event)
        await _flush(uow)

    handle.__name__ = handle.__qualname__ = f"on_{apply.__name__.removeprefix('apply_')}"
    return handle


PLANNING_HANDLERS = {
    RosterImported: _applying(read_model.apply_roster),
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
