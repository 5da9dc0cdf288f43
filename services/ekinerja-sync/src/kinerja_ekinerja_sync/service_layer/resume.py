"""Resume parked records when planning reports the fix: RosterImported (a school's roster).

For each parked record of the school (or of a teacher in the roster), newest version only,
finalized before the roster was imported: re-map the finalized result with the roster's data
(domain/resume.py); when a value that matters for the reason changed, the record goes back to
"pending" with a "requeued" attempt saying what resumed it (the import, the event, the changed
values) and an EkinerjaSyncRequeued event. Applying the same roster again changes nothing (the
record is no longer parked, or nothing differs); the consumer's inbox skips redeliveries.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlmodel import col, or_, select

from kinerja_shared.events import Envelope, RosterImported
from kinerja_shared.events.contracts import EkinerjaSyncRequeued
from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWork

from kinerja_ekinerja_sync.adapters.tables import SyncAttempt, SyncRecord
from kinerja_ekinerja_sync.domain import model
from kinerja_ekinerja_sync.domain.resume import (
    RosterPerson,
    fields_that_matter,
    from_snapshot,
    resume_for,
    snapshot,
)
from kinerja_ekinerja_sync.service_layer.operator import REQUEUED

log = get_logger(__name__)


async def resume_from_roster(uow: UnitOfWork, event: RosterImported, envelope: Envelope) -> list[str]:
    """Never commits (the consumer does, with its inbox row). Returns the resumed assessment ids."""
    session = uow.session
    people = {
        p.nip: RosterPerson(p.nip, p.name, p.jabatan, p.jenjang, p.golongan, p.asn_status, p.assessor_nip)
        for p in event.people
    }
    parked = (
        await session.exec(
            select(SyncRecord).where(
                SyncRecord.status == model.PARKED,
                SyncRecord.kind == model.RESULT,  # plans and reviews: service_layer/intake.py
                or_(SyncRecord.school_npsn == event.school.npsn, col(SyncRecord.teacher_nip).in_(list(people))),
            )
        )
    ).all()
    if not parked:
        return []
    newest: dict[str, int] = {}
    for assessment_id, version in (
        await session.exec(
            select(SyncRecord.assessment_id, SyncRecord.assessment_version).where(
                col(SyncRecord.assessment_id).in_({r.assessment_id for r in parked})
            )
        )
    ).all():
        newest[assessment_id] = max(version, newest.get(assessment_id, 0))
    now = datetime.now(timezone.utc)
    resumed = []
    for record in parked:
        if record.assessment_version < newest[record.assessment_id] or not record.result_snapshot:
            continue  # a newer version is the one to send; records older than snapshots stay manual
        stored = json.loads(record.result_snapshot)
        # Only a roster newer than the data the result holds (finalized, or an earlier resume).
        as_of = max(datetime.fromisoformat(stored[k]) for k in ("finalized_at", "roster_at") if stored.get(k))
        if envelope.occurred_at <= as_of:
            continue
        last = (
            await session.exec(
                select(SyncAttempt).where(SyncAttempt.record_id == record.id)
                .order_by(col(SyncAttempt.attempt).desc(), col(SyncAttempt.id).desc()).limit(1)
            )
        ).first()
        matter = fields_that_matter(last.outcome if last else None, record.last_message)
        # The school's name is the unit e-Kinerja knows (as the assessment service sends it).
        unit = event.school.name if record.school_npsn == event.school.npsn else None
        plan = resume_for(from_snapshot(stored), record.payload_dict(), matter, people, unit)
        if plan is None:
            continue
        changed = "; ".join(f"{f}: {before!r} -> {after!r}" for f, (before, after) in sorted(plan.changed.items()))
        by = f"planning RosterImported {event.import_id}"
        message = (f"Dilanjutkan otomatis: data roster sekolah {event.school.npsn} diperbarui ({by}, event "
                   f"{envelope.event_id}): {changed or 'data kini lengkap'}")
        previous = record.last_message
        session.add(SyncAttempt(
            record_id=record.id, attempt=record.attempt_count, at=now, outcome=REQUEUED,
            message=f"{message}; sebelumnya: {previous or '-'}", responsible_actor=None,
        ))
        record.payload = json.dumps(plan.payload, sort_keys=True)
        record.result_snapshot = json.dumps({**snapshot(plan.result), "finalized_at": stored.get("finalized_at"),
                                             "roster_at": envelope.occurred_at.isoformat(),
                                             "roster_import_id": event.import_id})
        record.status, record.next_attempt_at, record.updated_at = model.PENDING, now, now
        record.responsible_actor, record.last_message = None, message
        session.add(record)
        uow.publish(
            EkinerjaSyncRequeued(
                assessment_id=record.assessment_id, assessment_version=record.assessment_version,
                teacher_nip=record.teacher_nip, school_npsn=record.school_npsn, attempt=record.attempt_count,
                requeued_by=by, message=message, previous_message=previous, requeued_at=now,
            ),
            region=record.region,
        )
        resumed.append(record.assessment_id)
        log.info("sync.resumed_by_roster", assessment_id=record.assessment_id, import_id=event.import_id,
                 fields=sorted(plan.changed))
    return resumed
