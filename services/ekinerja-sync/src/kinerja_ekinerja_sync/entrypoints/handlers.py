"""Event handlers: thin, they call the service layer (the consumer commits with the inbox)."""

from __future__ import annotations

from kinerja_shared.events import AssessmentFinalized, Envelope, RosterImported
from kinerja_shared.messaging.streams import ConsumerSpec
from kinerja_shared.uow import UnitOfWork

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
