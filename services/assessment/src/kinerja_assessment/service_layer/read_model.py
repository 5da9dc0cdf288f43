"""Keeping the read models current from other contexts' events. Each function runs inside the
consumer's unit of work (committed with the inbox row) and is safe to run twice.

Order is not assumed. A plan approval before its teacher or period, and any evidence event
before the assessment of its plan exists, raise NotReady (nak with a delay, retried). Among the
evidence events of one piece of evidence (which can overtake each other once some were nacked)
the review state is applied by the event's own time: a verification that arrives before the
upload it concerns creates the row, the upload later fills in the file's facts without undoing
the review, and a deletion is final (its note cleared, whichever review came before it).

People, periods and plans are applied by their own order too: a roster by its envelope's time
(``roster_at``; an older roster retried late changes nobody, and an assessment created after a
newer roster takes that roster's assessor), a schedule change by ``changed_at`` (``schedule_at``),
a plan approval by its revision (``plan_revision``). tests/test_read_model_properties.py proves
these tables reach the same state for any order, interleaving and redelivery of the events.

Daily reports (laporan harian) do not wait for anything: a row per report, keyed by its id and
holding its teacher and period, is all the workbench needs. Their state follows the rule in
domain/daily_reports.py (the later event wins, accepted is final), so a review that arrives
before its submission is kept and the submission later only fills in its target.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from kinerja_shared.events import (
    EvidenceUploaded, PeriodOpened, PeriodScheduleChanged, PlanApproved, RosterImported,
)
from kinerja_shared.events.contracts import (
    DailyReportReviewed, DailyReportSubmitted, EvidenceDeleted, EvidenceRejected, EvidenceVerified,
)
from kinerja_shared.messaging.consumer import NotReady
from kinerja_shared.uow import UnitOfWork
from sqlalchemy import update
from sqlmodel import select

from kinerja_assessment.adapters.tables import (
    Assessment, DailyReportView, EvidenceView, PeriodView, RosterPerson,
)
from kinerja_assessment.domain import daily_reports as reports
from kinerja_assessment.domain.angka_kredit import jenjang_of

_ASSESSMENT_NAMESPACE = uuid.UUID("5d3c9a53-3f0e-4d7e-9b8e-6a1f2f0e4b11")
UPLOADED, VERIFIED, REJECTED, DELETED = "diunggah", "terverifikasi", "ditolak", "dihapus"


async def _insert(uow: UnitOfWork, row: EvidenceView | DailyReportView) -> None:
    """A row another event of the same evidence or report inserted meanwhile makes the commit
    fail; the consumer retries the event, which then takes the update path."""
    uow.session.add(row)


async def _evidence(uow: UnitOfWork, evidence_id: str) -> EvidenceView | None:
    # Locked on PostgreSQL: a review applied at the same time as a deletion must not write back
    # the state it read before the deletion (SQLite: the inbox claim holds the write lock).
    return await uow.session.get(EvidenceView, evidence_id, with_for_update=True)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def assessment_id_for(plan_id: str) -> str:
    """One assessment per agreed plan, with an id any replica derives the same way."""
    return str(uuid.uuid5(_ASSESSMENT_NAMESPACE, plan_id))


async def apply_roster(uow: UnitOfWork, event: RosterImported, at: datetime | None = None) -> None:
    """``at``: when the roster was imported (its envelope's time). A person's row holds the
    newest roster that listed them; an older one arriving late (it was retried) is ignored for
    them, so it can neither bring back an old assessor nor take over their assessments."""
    for person in event.people:
        row = await uow.session.get(RosterPerson, person.nip, with_for_update=True) or RosterPerson(
            nip=person.nip, name=person.name, role=person.role)
        if at is not None and row.roster_at is not None and as_utc(row.roster_at) > as_utc(at):
            continue
        row.roster_at = at or row.roster_at
        row.name, row.role, row.jabatan = person.name, person.role, person.jabatan
        row.jenjang, row.golongan, row.asn_status = person.jenjang, person.golongan, person.asn_status
        row.assessor_nip = person.assessor_nip
        if person.role != "pengawas":  # a pengawas is listed with the schools they cover, not of them
            row.school_npsn, row.school_name, row.region = event.school.npsn, event.school.name, event.school.region
        elif row.region == "000000":
            row.region = event.school.region
        uow.session.add(row)
        # A new assessor of record (e.g. a new kepala sekolah) takes over the open assessments.
        open_ones = await uow.session.exec(
            select(Assessment).where(Assessment.teacher_nip == person.nip, Assessment.status == "open")
        )
        for assessment in open_ones.all():
            if person.assessor_nip and assessment.assessor_nip != person.assessor_nip:
                assessment.assessor_nip = person.assessor_nip
                uow.session.add(assessment)


def _stages_json(stages) -> str:
    return json.dumps([{"stage": s.stage, "starts_on": s.starts_on.isoformat(), "ends_on": s.ends_on.isoformat()}
                       for s in stages])


async def apply_period(uow: UnitOfWork, event: PeriodOpened) -> None:
    row = await uow.session.get(PeriodView, event.period_id) or PeriodView(
        period_id=event.period_id, name=event.name, policy=event.policy, year=event.year,
        month_start=event.month_start, month_end=event.month_end,
    )
    row.name, row.policy, row.year = event.name, event.policy, event.year
    row.month_start, row.month_end, row.semester = event.month_start, event.month_end, event.semester
    row.competency_points_min = event.competency_points_min
    if event.stages and row.schedule_at is None:  # sent again after a schedule change: keep the change
        row.stages = _stages_json(event.stages)
    uow.session.add(row)


async def apply_schedule_changed(uow: UnitOfWork, event: PeriodScheduleChanged) -> None:
    row = await uow.session.get(PeriodView, event.period_id, with_for_update=True)
    if row is None:
        raise NotReady(f"periode {event.period_id} belum diketahui")
    if row.schedule_at is not None and as_utc(event.changed_at) <= as_utc(row.schedule_at):
        return  # an older change that arrived late (it waited for the period, or was retried)
    row.stages, row.schedule_at = _stages_json(event.stages), event.changed_at
    uow.session.add(row)


async def apply_plan_approved(uow: UnitOfWork, event: PlanApproved) -> None:
    # Locked (PostgreSQL) like apply_roster locks it: a roster naming a new assessor applied at
    # the same time either commits first (read here) or waits and then sees this assessment.
    teacher = await uow.session.get(RosterPerson, event.teacher_nip, with_for_update=True)
    if teacher is None:
        raise NotReady(f"guru {event.teacher_nip} belum ada di roster")
    if await uow.session.get(PeriodView, event.period_id) is None:
        raise NotReady(f"periode {event.period_id} belum diketahui")
    existing = (await uow.session.exec(
        select(Assessment).where(Assessment.plan_id == event.plan_id).with_for_update()
    )).first()
    items = json.dumps([i.model_dump() for i in event.items])
    targets = json.dumps([t.model_dump() for t in event.monthly_targets])
    if existing is not None:
        # A later approval (revision) of the same plan carries its latest items; an older one
        # arriving after it changes nothing.
        if existing.status == "open" and event.revision >= existing.plan_revision:
            existing.plan_items, existing.monthly_targets = items, targets
            existing.plan_revision = event.revision
            uow.session.add(existing)
        return
    # The assessor of record: the plan's, unless a roster imported after the approval (applied
    # before it here) named another one, as it would have taken over the assessment.
    assessor_nip = event.assessor_nip
    if (teacher.assessor_nip and teacher.roster_at is not None
            and as_utc(teacher.roster_at) > as_utc(event.approved_at)):
        assessor_nip = teacher.assessor_nip
    uow.session.add(
        Assessment(
            assessment_id=assessment_id_for(event.plan_id),
            plan_id=event.plan_id,
            period_id=event.period_id,
            teacher_nip=event.teacher_nip,
            school_npsn=event.school_npsn,
            assessor_nip=assessor_nip,
            region=teacher.region,
            plan_kind=event.plan_kind,
            plan_items=items,
            monthly_targets=targets,
            jenjang=jenjang_of(teacher.jenjang) or "",
            plan_revision=event.revision,
        )
    )


async def _count(uow: UnitOfWork, assessment: Assessment, delta: int) -> None:
    """An atomic increment in the database: events of one plan may be applied concurrently, and
    a read-modify-write of the loaded row would lose one of them."""
    await uow.session.exec(  # type: ignore[call-overload]
        update(Assessment).where(Assessment.assessment_id == assessment.assessment_id)
        .values(evidence_count=Assessment.evidence_count + delta)
    )


async def _assessment_of(uow: UnitOfWork, plan_id: str) -> Assessment:
    assessment = (await uow.session.exec(select(Assessment).where(Assessment.plan_id == plan_id))).first()
    if assessment is None:
        raise NotReady(f"penilaian untuk rencana {plan_id} belum ada")
    return assessment


async def apply_evidence_uploaded(uow: UnitOfWork, event: EvidenceUploaded) -> None:
    assessment = await _assessment_of(uow, event.plan_id)
    row = await _evidence(uow, event.evidence_id)
    if row is not None and row.uploaded:
        return
    if row is None:
        row = EvidenceView(evidence_id=event.evidence_id, plan_id=event.plan_id, sha256=event.sha256,
                           status=UPLOADED, status_at=event.uploaded_at)
        await _insert(uow, row)
    # A review that overtook the upload keeps its state; the upload brings the file's facts.
    row.sha256, row.item_id, row.file_name = event.sha256, event.item_id, event.file_name
    row.reuse_flagged, row.reuse_of, row.uploaded = event.reuse_flagged, json.dumps(event.reuse_of), True
    uow.session.add(row)
    if row.status != DELETED:
        await _count(uow, assessment, +1)


async def _apply_review(uow: UnitOfWork, event, status: str, at: datetime, note: str) -> None:
    await _assessment_of(uow, event.plan_id)
    row = await _evidence(uow, event.evidence_id)
    if row is None:  # the review overtook the upload: keep it, the upload fills in the rest
        row = EvidenceView(evidence_id=event.evidence_id, plan_id=event.plan_id, sha256="", uploaded=False,
                           item_id=event.item_id, status=status, status_at=at, status_note=note)
        await _insert(uow, row)
        return
    if row.status == DELETED:
        return
    if row.status_at is None or at >= row.status_at or row.status == UPLOADED:
        row.status, row.status_at, row.status_note = status, at, note
        uow.session.add(row)


async def apply_evidence_verified(uow: UnitOfWork, event: EvidenceVerified) -> None:
    await _apply_review(uow, event, VERIFIED, event.verified_at, event.note)


async def apply_evidence_rejected(uow: UnitOfWork, event: EvidenceRejected) -> None:
    await _apply_review(uow, event, REJECTED, event.rejected_at, event.reason)


async def apply_evidence_deleted(uow: UnitOfWork, event: EvidenceDeleted) -> None:
    assessment = await _assessment_of(uow, event.plan_id)
    row = await _evidence(uow, event.evidence_id)
    if row is None:
        row = EvidenceView(evidence_id=event.evidence_id, plan_id=event.plan_id, sha256=event.sha256,
                           uploaded=False, item_id=event.item_id, status=DELETED, status_at=event.deleted_at)
        await _insert(uow, row)
    elif row.uploaded and row.status != DELETED:
        await _count(uow, assessment, -1)
    # Final, whatever review was applied before it: the note of a review that happened to be
    # applied first would make the row depend on the order of arrival.
    row.status, row.status_at, row.status_note = DELETED, event.deleted_at, ""
    uow.session.add(row)


async def _daily_report(uow: UnitOfWork, report_id: str) -> DailyReportView | None:
    # Locked on PostgreSQL: two events of one report applied at once must not both read the old
    # state (SQLite has one writer at a time anyway).
    return await uow.session.get(DailyReportView, report_id, with_for_update=True)


async def apply_daily_report_submitted(uow: UnitOfWork, event: DailyReportSubmitted) -> None:
    row = await _daily_report(uow, event.report_id)
    incoming = reports.ReportState(reports.SUBMITTED, event.submitted_at)
    if row is None:
        row = DailyReportView(
            report_id=event.report_id, plan_id=event.plan_id, period_id=event.period_id,
            teacher_nip=event.teacher_nip, school_npsn=event.school_npsn, target_id=event.target_id,
            report_date=event.report_date, report_month=reports.month_of(event.report_date),
            status=incoming.status, status_at=incoming.at, submitted=True,
        )
        await _insert(uow, row)
        return
    # The submission brings the target (a review that came first does not carry it).
    row.target_id, row.submitted = event.target_id, True
    if reports.supersedes(reports.ReportState(row.status, row.status_at), incoming):
        row.status, row.status_at = incoming.status, incoming.at
    uow.session.add(row)


async def apply_daily_report_reviewed(uow: UnitOfWork, event: DailyReportReviewed) -> None:
    row = await _daily_report(uow, event.report_id)
    incoming = reports.ReportState(event.decision, event.reviewed_at)
    is_new = row is None
    if row is None:  # the review overtook the submission: keep it, the submission fills in the rest
        row = DailyReportView(
            report_id=event.report_id, plan_id=event.plan_id, period_id=event.period_id,
            teacher_nip=event.teacher_nip, school_npsn=event.school_npsn, target_id=None,
            report_date=event.report_date, report_month=reports.month_of(event.report_date),
            status=incoming.status, status_at=incoming.at, submitted=False,
        )
    elif reports.supersedes(reports.ReportState(row.status, row.status_at), incoming):
        row.status, row.status_at = incoming.status, incoming.at
    if event.decision == reports.NEEDS_FIX and reports.is_newer_note(row.fix_at, event.reviewed_at):
        row.fix_note, row.fix_by, row.fix_at = event.note, event.reviewed_by, event.reviewed_at
    if is_new:
        await _insert(uow, row)
    else:
        uow.session.add(row)
