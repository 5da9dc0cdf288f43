"""Use cases of the assessor (Pejabat Penilai Kinerja) and the readers of assessments."""

from __future__ import annotations

from datetime import datetime, timezone

from kinerja_shared.auth import Principal
from kinerja_shared.errors import Conflict, Forbidden, NotFound
from kinerja_shared.events import AssessmentFinalized, PersonRef
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory
from sqlmodel import select

from kinerja_assessment.adapters.tables import Assessment, PeriodView, RosterPerson
from kinerja_assessment.domain import assessment as rules
from kinerja_assessment.domain.predikat import Predikat, Rating, parse_rating, predikat_for

DINAS_ROLES = ("dinas", "operator_dinas", "sistem")


def _region_matches(principal: Principal, region: str) -> bool:
    if not principal.region:
        return True
    if principal.region.endswith("0000"):  # a province-wide token
        return region[:2] == principal.region[:2]
    return region == principal.region


def can_read(principal: Principal, a: Assessment) -> bool:
    if principal.role == "guru":
        return principal.nip == a.teacher_nip
    if principal.role in ("kepala_sekolah", "operator_sekolah"):
        return principal.npsn == a.school_npsn or principal.nip == a.assessor_nip
    if principal.role == "pengawas":
        return principal.nip == a.assessor_nip or _region_matches(principal, a.region)
    if principal.role in DINAS_ROLES:
        return _region_matches(principal, a.region)
    return False


async def _load(uow: UnitOfWork, assessment_id: str) -> Assessment:
    row = await uow.session.get(Assessment, assessment_id)
    if row is None:
        raise NotFound("penilaian_tidak_ditemukan", "Penilaian tidak ditemukan.", "Assessment not found.")
    return row


async def _assessor_of_record(uow: UnitOfWork, a: Assessment) -> str | None:
    """The roster decides who assesses (a new kepala sekolah takes over open assessments);
    the plan's assessor only stands in while the teacher is unknown."""
    teacher = await uow.session.get(RosterPerson, a.teacher_nip)
    return teacher.assessor_nip if teacher is not None else a.assessor_nip


def _denied() -> Forbidden:
    return Forbidden("akses_ditolak", "Anda tidak berhak melihat penilaian ini.", "You may not see this assessment.")


async def view(uow: UnitOfWork, a: Assessment, names: dict[str, str] | None = None) -> dict:
    if names is None:
        teacher = await uow.session.get(RosterPerson, a.teacher_nip)
        names = {a.teacher_nip: teacher.name} if teacher else {}
    predikat = (
        predikat_for(Rating(a.rating_hasil_kerja), Rating(a.rating_perilaku_kerja))
        if a.rating_hasil_kerja and a.rating_perilaku_kerja
        else None
    )
    return {
        "assessment_id": a.assessment_id,
        "version": a.version,
        "plan_id": a.plan_id,
        "period_id": a.period_id,
        "teacher_nip": a.teacher_nip,
        "teacher_name": names.get(a.teacher_nip, ""),
        "school_npsn": a.school_npsn,
        "assessor_nip": a.assessor_nip,
        "status": a.status,
        "status_label": rules.STATUS_LABELS.get(a.status, a.status),
        "rating_hasil_kerja": a.rating_hasil_kerja,
        "rating_perilaku_kerja": a.rating_perilaku_kerja,
        "rating_reason": a.rating_reason,
        "predikat": predikat.value if predikat else None,
        "predikat_code": predikat.siasn_code if predikat else None,
        "predikat_label": predikat.label if predikat else None,
        "evidence_count": a.evidence_count,
        "finalized_at": a.finalized_at.isoformat() if a.finalized_at else None,
    }


async def list_assessments(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    period_id: str | None = None,
    npsn: str | None = None,
    teacher_nip: str | None = None,
    plan_id: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> dict:
    async with uow_factory() as uow:
        query = select(Assessment)
        # Scope first: a guru only ever sees their own, a kepala sekolah their school's.
        if principal.role == "guru":
            query = query.where(Assessment.teacher_nip == principal.nip)
        elif principal.role in ("kepala_sekolah", "operator_sekolah"):
            query = query.where(
                (Assessment.school_npsn == principal.npsn) | (Assessment.assessor_nip == principal.nip)
            )
        elif principal.role not in DINAS_ROLES + ("pengawas",):
            raise _denied()
        for column, value in (
            (Assessment.period_id, period_id), (Assessment.school_npsn, npsn),
            (Assessment.teacher_nip, teacher_nip), (Assessment.plan_id, plan_id),
        ):
            if value:
                query = query.where(column == value)
        query = query.order_by(Assessment.school_npsn, Assessment.teacher_nip).offset(offset).limit(limit)
        rows = [a for a in (await uow.session.exec(query)).all() if can_read(principal, a)]
        # One query for the teachers' names instead of one per row.
        people = await uow.session.exec(
            select(RosterPerson).where(RosterPerson.nip.in_({a.teacher_nip for a in rows}))
        )
        names = {p.nip: p.name for p in people.all()}
        return {"assessments": [await view(uow, a, names) for a in rows]}


async def get_assessment(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str) -> dict:
    async with uow_factory() as uow:
        a = await _load(uow, assessment_id)
        if not can_read(principal, a):
            raise _denied()
        return await view(uow, a)


async def record_ratings(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    assessment_id: str,
    *,
    rating_hasil_kerja: object,
    rating_perilaku_kerja: object,
    reason: str | None,
) -> dict:
    hasil = parse_rating(rating_hasil_kerja, "rating_hasil_kerja")
    perilaku = parse_rating(rating_perilaku_kerja, "rating_perilaku_kerja")
    async with uow_factory() as uow:
        a = await _load(uow, assessment_id)
        rules.ensure_assessor(await _assessor_of_record(uow, a), principal.nip)
        rules.ensure_open(a.status)
        a.rating_hasil_kerja, a.rating_perilaku_kerja = hasil.value, perilaku.value
        a.rating_reason = (reason or "").strip() or None
        a.rated_by = principal.nip
        a.updated_at = datetime.now(timezone.utc)
        uow.session.add(a)
        await uow.commit()
        return await view(uow, a)


def _person_ref(person: RosterPerson) -> PersonRef:
    return PersonRef(
        nip=person.nip, name=person.name, role=person.role, jabatan=person.jabatan,
        jenjang=person.jenjang, golongan=person.golongan, asn_status=person.asn_status,
        assessor_nip=person.assessor_nip,
    )


async def finalize(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str) -> dict:
    async with uow_factory() as uow:
        a = await _load(uow, assessment_id)
        rules.ensure_assessor(await _assessor_of_record(uow, a), principal.nip)
        rules.ensure_open(a.status)
        ratings = rules.ratings_to_finalize(a.rating_hasil_kerja, a.rating_perilaku_kerja)
        teacher = await uow.session.get(RosterPerson, a.teacher_nip)
        assessor = await uow.session.get(RosterPerson, principal.nip)
        period = await uow.session.get(PeriodView, a.period_id)
        if teacher is None or assessor is None or period is None:
            # The read model lags behind (the roster or period event is still on its way).
            raise Conflict(
                "data_penilaian_belum_lengkap",
                "Data guru, penilai atau periode belum lengkap; coba lagi sebentar lagi.",
                "Teacher, assessor or period data not yet received; try again shortly.",
            )
        now = datetime.now(timezone.utc)
        a.status, a.finalized_at, a.updated_at = rules.FINAL, now, now
        a.assessor_nip = assessor.nip  # the assessor who signed it, as sent to e-Kinerja
        uow.session.add(a)
        predikat: Predikat = ratings.predikat
        uow.publish(
            AssessmentFinalized(
                assessment_id=a.assessment_id,
                assessment_version=a.version,
                plan_id=a.plan_id,
                period_id=a.period_id,
                year=period.year,
                month_start=period.month_start,
                month_end=period.month_end,
                school_npsn=a.school_npsn,
                teacher=_person_ref(teacher),
                assessor=_person_ref(assessor),
                # The unit the assessment belongs to: the teacher's school.
                assessor_unit=teacher.school_name or assessor.school_name,
                rating_hasil_kerja=ratings.hasil_kerja.value,
                rating_perilaku_kerja=ratings.perilaku_kerja.value,
                predikat=predikat.value,
                predikat_code=predikat.siasn_code,
                finalized_at=now,
            ),
            region=a.region,
        )
        await uow.commit()
        return await view(uow, a)
