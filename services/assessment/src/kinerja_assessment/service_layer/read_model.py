"""Keeping the read models current from other contexts' events. Each function runs inside the
consumer's unit of work (committed with the inbox row) and is safe to run twice."""

from __future__ import annotations

import uuid

from kinerja_shared.events import EvidenceUploaded, PeriodOpened, PlanApproved, RosterImported
from kinerja_shared.messaging.consumer import NotReady
from kinerja_shared.uow import UnitOfWork
from sqlmodel import select

from kinerja_assessment.adapters.tables import Assessment, EvidenceView, PeriodView, RosterPerson

_ASSESSMENT_NAMESPACE = uuid.UUID("5d3c9a53-3f0e-4d7e-9b8e-6a1f2f0e4b11")


def assessment_id_for(plan_id: str) -> str:
    """One assessment per agreed plan, with an id any replica derives the same way."""
    return str(uuid.uuid5(_ASSESSMENT_NAMESPACE, plan_id))


async def apply_roster(uow: UnitOfWork, event: RosterImported) -> None:
    for person in event.people:
        row = await uow.session.get(RosterPerson, person.nip) or RosterPerson(nip=person.nip, name=person.name, role=person.role)
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


async def apply_period(uow: UnitOfWork, event: PeriodOpened) -> None:
    row = await uow.session.get(PeriodView, event.period_id) or PeriodView(
        period_id=event.period_id, name=event.name, policy=event.policy, year=event.year,
        month_start=event.month_start, month_end=event.month_end,
    )
    row.name, row.policy, row.year = event.name, event.policy, event.year
    row.month_start, row.month_end = event.month_start, event.month_end
    uow.session.add(row)


async def apply_plan_approved(uow: UnitOfWork, event: PlanApproved) -> None:
    teacher = await uow.session.get(RosterPerson, event.teacher_nip)
    if teacher is None:
        raise NotReady(f"guru {event.teacher_nip} belum ada di roster")
    if await uow.session.get(PeriodView, event.period_id) is None:
        raise NotReady(f"periode {event.period_id} belum diketahui")
    existing = (await uow.session.exec(select(Assessment).where(Assessment.plan_id == event.plan_id))).first()
    if existing is not None:
        return  # already open for this plan
    uow.session.add(
        Assessment(
            assessment_id=assessment_id_for(event.plan_id),
            plan_id=event.plan_id,
            period_id=event.period_id,
            teacher_nip=event.teacher_nip,
            school_npsn=event.school_npsn,
            assessor_nip=event.assessor_nip,
            region=teacher.region,
        )
    )


async def apply_evidence_uploaded(uow: UnitOfWork, event: EvidenceUploaded) -> None:
    assessment = (await uow.session.exec(select(Assessment).where(Assessment.plan_id == event.plan_id))).first()
    if assessment is None:
        raise NotReady(f"penilaian untuk rencana {event.plan_id} belum ada")
    if await uow.session.get(EvidenceView, event.evidence_id) is not None:
        return
    uow.session.add(EvidenceView(evidence_id=event.evidence_id, plan_id=event.plan_id, sha256=event.sha256))
    assessment.evidence_count += 1
    uow.session.add(assessment)
