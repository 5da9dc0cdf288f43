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


async def on_roster_imported(event: RosterImported, _envelope, uow) -> None:
    await read_model.apply_roster(uow, event)
    await _flush(uow)


async def on_period_opened(event: PeriodOpened, _envelope, uow) -> None:
    await read_model.apply_period(uow, event)
    await _flush(uow)


async def on_schedule_changed(event: PeriodScheduleChanged, _envelope, uow) -> None:
    await read_model.apply_schedule_changed(uow, event)
    await _flush(uow)


async def on_plan_approved(event: PlanApproved, _envelope, uow) -> None:
    await read_model.apply_plan_approved(uow, event)
    await _flush(uow)


async def on_evidence_uploaded(event: EvidenceUploaded, _envelope, uow) -> None:
    await read_model.apply_evidence_uploaded(uow, event)
    await _flush(uow)


async def on_evidence_verified(event: EvidenceVerified, _envelope, uow) -> None:
    await read_model.apply_evidence_verified(uow, event)
    await _flush(uow)


async def on_evidence_rejected(event: EvidenceRejected, _envelope, uow) -> None:
    await read_model.apply_evidence_rejected(uow, event)
    await _flush(uow)


async def on_evidence_deleted(event: EvidenceDeleted, _envelope, uow) -> None:
    await read_model.apply_evidence_deleted(uow, event)
    await _flush(uow)


async def on_daily_report_submitted(event: DailyReportSubmitted, _envelope, uow) -> None:
    await read_model.apply_daily_report_submitted(uow, event)
    await _flush(uow)


async def on_daily_report_reviewed(event: DailyReportReviewed, _envelope, uow) -> None:
    await read_model.apply_daily_report_reviewed(uow, event)
    await _flush(uow)


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
    DailyReportSubmitted: on_daily_report_submitted,
    DailyReportReviewed: on_daily_report_reviewed,
}
