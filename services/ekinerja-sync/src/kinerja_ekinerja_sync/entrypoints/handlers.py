"""Event handlers: thin, they call the service layer (the consumer commits with the inbox)."""

from __future__ import annotations

from kinerja_shared.events import AssessmentFinalized, Envelope, PeriodOpened, PlanApproved, RosterImported
from kinerja_shared.events.contracts import PeriodicReviewRecorded
from kinerja_shared.messaging.streams import ConsumerSpec
from kinerja_shared.uow import UnitOfWork

from kinerja_ekinerja_sync.service_layer import intake, read_models
from kinerja_ekinerja_sync.service_layer.resume import resume_from_roster
from kinerja_ekinerja_sync.service_layer.sync import record_final_result

ASSESSMENT_CONSUMER = ConsumerSpec(
    durable="ekinerja-sync-assessment",
    stream="KINERJA_ASSESSMENT",
    filter_subjects=["kinerja.assessment.assessment.finalized.>"],
)


async def on_assessment_finalized(event: AssessmentFinalized, envelope: Envelope, uow: UnitOfWork) -> None:
    await record_final_result(uow, event, envelope)


HANDLERS = {AssessmentFinalized: on_assessment_finalized}


# Planning's roster imports: a parked record resumes when the roster fixes its reason.
ROSTER_CONSUMER = ConsumerSpec(
    durable="ekinerja-sync-roster",
    stream="KINERJA_PLANNING",
    filter_subjects=["kinerja.planning.roster.imported.>"],
)


async def on_roster_imported(event: RosterImported, envelope: Envelope, uow: UnitOfWork) -> None:
    await resume_from_roster(uow, event, envelope)


ROSTER_HANDLERS = {RosterImported: on_roster_imported}


# Agreed plans (SKP) and what they need from planning: the roster's people and schools, the
# periods. One consumer for all three so they are applied in the stream's order (a roster and a
# period normally arrive before the plans that need them); types it does not handle are acked.
PLANNING_CONSUMER = ConsumerSpec(
    durable="ekinerja-sync-planning",
    stream="KINERJA_PLANNING",
    filter_subjects=["kinerja.planning.>"],
)


async def on_plan_approved(event: PlanApproved, envelope: Envelope, uow: UnitOfWork) -> None:
    await intake.record_agreed_plan(uow, event, envelope)


async def on_roster_for_plans(event: RosterImported, envelope: Envelope, uow: UnitOfWork) -> None:
    await read_models.apply_roster(uow, event, envelope)
    await uow.session.flush()
    await intake.resume_parked(
        uow, envelope, by=f"planning RosterImported {event.import_id}",
        what=f"data roster sekolah {event.school.npsn} diperbarui",
        school_npsn=event.school.npsn, nips=[p.nip for p in event.people],
    )


async def on_period_opened(event: PeriodOpened, envelope: Envelope, uow: UnitOfWork) -> None:
    await read_models.apply_period(uow, event)
    await uow.session.flush()
    await intake.resume_parked(
        uow, envelope, by=f"planning PeriodOpened {event.period_id}", what=f"periode {event.name} diterima",
        period_id=event.period_id,
    )


PLANNING_HANDLERS = {PlanApproved: on_plan_approved, RosterImported: on_roster_for_plans, PeriodOpened: on_period_opened}


# Periodic reviews (ruang-gtk-2025), each mirrored as its own record.
REVIEW_CONSUMER = ConsumerSpec(
    durable="ekinerja-sync-reviews",
    stream="KINERJA_ASSESSMENT",
    filter_subjects=["kinerja.assessment.assessment.periodic_review_recorded.>"],
)


async def on_periodic_review_recorded(event: PeriodicReviewRecorded, envelope: Envelope, uow: UnitOfWork) -> None:
    await intake.record_periodic_review(uow, event, envelope)


REVIEW_HANDLERS = {PeriodicReviewRecorded: on_periodic_review_recorded}
