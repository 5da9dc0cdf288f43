"""Use cases of the assessor (Pejabat Penilai Kinerja) and the readers of assessments: list,
read, rate (with reasons, optionally per BerAKHLAK value), the distribution preview, finalize."""

from __future__ import annotations

import json
from datetime import date

from kinerja_shared import access
from kinerja_shared.access_rules import assessment as actions
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock
from kinerja_shared.errors import Conflict, NotFound
from kinerja_shared.events import AssessmentFinalized, PersonRef
from kinerja_shared.events.contracts import AssessmentRated
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from kinerja_assessment.adapters.tables import (
    Assessment, AssessmentVersion, Extension, Objection, Observation, ObservationStage,
    OrganisationPredikat, PeriodView, RosterPerson,
)
from kinerja_assessment.domain import angka_kredit as ak
from kinerja_assessment.domain import assessment as rules
from kinerja_assessment.domain import distribution, observation, windows
from kinerja_assessment.domain.policy import policy_for
from kinerja_assessment.domain.predikat import Predikat, Rating, predikat_for

# Where an assessment lives and whose it is, for the access policy. Its assessor_nip is the
# assessor of record (the read model follows the roster while it is open).
COLUMNS = access.Columns(owner_nip=Assessment.teacher_nip, assessor_nip=Assessment.assessor_nip,
                         npsn=Assessment.school_npsn, region=Assessment.region)


def resource(a: Assessment, assessor_nip: str | None = None) -> access.Resource:
    return access.Resource(npsn=a.school_npsn, region=a.region, owner_nip=a.teacher_nip,
                           assessor_nip=assessor_nip or a.assessor_nip)


def require_ppk_view(principal: Principal, action: str, a: Assessment) -> None:
    """The PPK's views of an assessment (workbench, distribution): the school, the PPK and the
    Dinas, not the assessed person (who reads their own assessment, not the assessor's view)."""
    access.require(principal, action, resource(a))
    if principal.nip == a.teacher_nip and principal.nip != a.assessor_nip:
        raise access.denied()


async def require_assessor(uow: UnitOfWork, principal: Principal, action: str, a: Assessment) -> frozenset:
    """The PPK of record (from the roster) acts on an assessment; a PPK role that is not this
    one's PPK gets 403 bukan_penilai, a Dinas outside its region 403 akses_ditolak. Returns the
    relations the caller's role acts under."""
    relations = access.require_action(principal, action)
    if not access.allows(principal, action, resource(a, await assessor_of_record(uow, a))):
        raise rules.not_the_assessor() if "assessor" in relations else access.denied()
    return relations


async def school_region(uow: UnitOfWork, npsn: str) -> str | None:
    """A school's district code, from the roster (or, failing that, its assessments)."""
    region = (await uow.session.exec(
        select(RosterPerson.region).where(RosterPerson.school_npsn == npsn).limit(1))).first()
    if region is None:
        region = (await uow.session.exec(
            select(Assessment.region).where(Assessment.school_npsn == npsn).limit(1))).first()
    return region


async def load(uow: UnitOfWork, assessment_id: str) -> Assessment:
    row = await uow.session.get(Assessment, assessment_id)
    if row is None:
        raise NotFound("penilaian_tidak_ditemukan", "Penilaian tidak ditemukan.", "Assessment not found.")
    return row


async def assessor_of_record(uow: UnitOfWork, a: Assessment) -> str | None:
    """The roster decides who assesses (a new kepala sekolah takes over open assessments);
    the plan's assessor only stands in while the teacher is unknown."""
    teacher = await uow.session.get(RosterPerson, a.teacher_nip)
    return teacher.assessor_nip if teacher is not None and teacher.assessor_nip else a.assessor_nip


def predikat_of(a: Assessment) -> Predikat | None:
    if a.rating_hasil_kerja and a.rating_perilaku_kerja:
        return predikat_for(Rating(a.rating_hasil_kerja), Rating(a.rating_perilaku_kerja))
    return None


async def view(uow: UnitOfWork, a: Assessment, names: dict[str, str] | None = None) -> dict:
    if names is None:
        teacher = await uow.session.get(RosterPerson, a.teacher_nip)
        names = {a.teacher_nip: teacher.name} if teacher else {}
    predikat = predikat_of(a)
    return {
        "assessment_id": a.assessment_id,
        "version": a.version,
        "plan_id": a.plan_id,
        "plan_kind": a.plan_kind,
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
        "reason_hasil_kerja": a.reason_hasil_kerja,
        "reason_perilaku_kerja": a.reason_perilaku_kerja,
        "perilaku_per_nilai": json.loads(a.perilaku_per_nilai) if a.perilaku_per_nilai else None,
        "predikat": predikat.value if predikat else None,
        "predikat_code": predikat.siasn_code if predikat else None,
        "predikat_label": predikat.label if predikat else None,
        "angka_kredit": str(a.angka_kredit) if a.angka_kredit is not None else None,
        "evidence_count": a.evidence_count,
        "finalized_at": a.finalized_at.isoformat() if a.finalized_at else None,
        "response": a.response if a.responded_version == a.version else None,
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
        # Scope first (the policy's WHERE clause), then the caller's filters.
        query = select(Assessment).where(access.scope_filter(principal, actions.ASSESSMENT_READ, COLUMNS))
        for column, value in (
            (Assessment.period_id, period_id), (Assessment.school_npsn, npsn),
            (Assessment.teacher_nip, teacher_nip), (Assessment.plan_id, plan_id),
        ):
            if value:
                query = query.where(column == value)
        query = query.order_by(Assessment.school_npsn, Assessment.teacher_nip).offset(offset).limit(limit)
        rows = list((await uow.session.exec(query)).all())
        # One query for the teachers' names instead of one per row.
        people = await uow.session.exec(
            select(RosterPerson).where(RosterPerson.nip.in_({a.teacher_nip for a in rows}))
        )
        names = {p.nip: p.name for p in people.all()}
        return {"assessments": [await view(uow, a, names) for a in rows]}


async def versions_of(uow: UnitOfWork, assessment_id: str) -> list[dict]:
    rows = (await uow.session.exec(
        select(AssessmentVersion).where(AssessmentVersion.assessment_id == assessment_id)
        .order_by(AssessmentVersion.version)
    )).all()
    return [{
        "version": v.version, "kind": v.kind, "rating_hasil_kerja": v.rating_hasil_kerja,
        "rating_perilaku_kerja": v.rating_perilaku_kerja, "predikat": v.predikat,
        "predikat_label": Predikat(v.predikat).label, "angka_kredit": str(v.angka_kredit) if v.angka_kredit is not None else None,
        "reason": v.reason, "created_by": v.created_by, "created_by_role": v.created_by_role,
        "objection_id": v.objection_id, "created_at": v.created_at.isoformat(),
    } for v in rows]


async def objections_of(uow: UnitOfWork, assessment_id: str) -> list[dict]:
    rows = (await uow.session.exec(
        select(Objection).where(Objection.assessment_id == assessment_id).order_by(Objection.filed_at)
    )).all()
    return [objection_view(o) for o in rows]


def objection_view(o: Objection) -> dict:
    return {
        "objection_id": o.objection_id, "assessment_id": o.assessment_id, "version": o.version,
        "reason": o.reason, "filed_by": o.filed_by, "filed_at": o.filed_at.isoformat(), "status": o.status,
        "decision_reason": o.decision_reason, "decided_by": o.decided_by,
        "decided_at": o.decided_at.isoformat() if o.decided_at else None,
        "correction_version": o.correction_version,
    }


async def get_assessment(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str) -> dict:
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        access.require(principal, actions.ASSESSMENT_READ, resource(a))
        body = await view(uow, a)
        body["versions"] = await versions_of(uow, a.assessment_id)
        body["objections"] = await objections_of(uow, a.assessment_id)
        return body


async def record_ratings(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    assessment_id: str,
    clock: Clock,
    *,
    rating_hasil_kerja: object,
    rating_perilaku_kerja: object,
    reason: object,
    reason_hasil_kerja: object = None,
    reason_perilaku_kerja: object = None,
    perilaku_per_nilai: object = None,
) -> dict:
    given = rules.parse_rating_input(rating_hasil_kerja, rating_perilaku_kerja, reason,
                                     reason_hasil_kerja, reason_perilaku_kerja, perilaku_per_nilai)
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        await require_assessor(uow, principal, actions.ASSESSMENT_RATE, a)
        rules.ensure_open(a.status)
        now = clock.now()
        a.rating_hasil_kerja, a.rating_perilaku_kerja = given.hasil_kerja.value, given.perilaku_kerja.value
        a.rating_reason = given.reason
        a.reason_hasil_kerja, a.reason_perilaku_kerja = given.reason_hasil_kerja, given.reason_perilaku_kerja
        a.perilaku_per_nilai = json.dumps(given.per_value, sort_keys=True) if given.per_value else None
        a.rated_by = principal.nip
        a.updated_at = now
        uow.session.add(a)
        uow.publish(
            AssessmentRated(
                assessment_id=a.assessment_id, plan_id=a.plan_id, period_id=a.period_id,
                teacher_nip=a.teacher_nip, school_npsn=a.school_npsn,
                rating_hasil_kerja=given.hasil_kerja.value, rating_perilaku_kerja=given.perilaku_kerja.value,
                predikat=given.predikat.value,
                perilaku_per_nilai={k: v["rating"] for k, v in given.per_value.items()},
                rated_by=principal.nip or "", rated_at=now,
            ),
            region=a.region,
        )
        await uow.commit()
        return await view(uow, a)


def person_ref(person: RosterPerson) -> PersonRef:
    return PersonRef(
        nip=person.nip, name=person.name, role=person.role, jabatan=person.jabatan,
        jenjang=person.jenjang, golongan=person.golongan, asn_status=person.asn_status,
        assessor_nip=person.assessor_nip,
    )


async def extension_until(uow: UnitOfWork, period_id: str, npsn: str, region: str) -> date | None:
    """The latest extension for this school: its own, or one for every school of a region that
    covers the school's district (region "": granted before regions were kept, every school)."""
    rows = (await uow.session.exec(
        select(Extension).where(Extension.period_id == period_id, Extension.npsn.in_(["", npsn]))
    )).all()
    return max((r.until for r in rows if r.npsn == npsn or not r.region or access.covers_region(r.region, region)),
               default=None)


def window_of(period: PeriodView) -> windows.Window:
    return windows.penilaian_window(json.loads(period.stages or "[]"), period.year, period.month_end)


async def observation_state(uow: UnitOfWork, assessment_id: str) -> tuple[dict[str, date], Observation | None]:
    stages = (await uow.session.exec(
        select(ObservationStage).where(ObservationStage.assessment_id == assessment_id)
    )).all()
    return {s.stage: s.held_on for s in stages}, await uow.session.get(Observation, assessment_id)


async def distribution_for(uow: UnitOfWork, a: Assessment, extra: Predikat | None) -> dict:
    """The school's final predikat in the period (latest versions), plus ``extra`` (the one
    about to be finalized), against the school's own predikat."""
    rows = (await uow.session.exec(
        select(Assessment.predikat, func.count()).where(
            Assessment.period_id == a.period_id, Assessment.school_npsn == a.school_npsn,
            Assessment.status == rules.FINAL, Assessment.assessment_id != a.assessment_id,
        ).group_by(Assessment.predikat)
    )).all()
    counts = {p: n for p, n in rows if p}
    if extra is not None:
        counts[extra.value] = counts.get(extra.value, 0) + 1
    org = await uow.session.get(OrganisationPredikat, (a.period_id, a.school_npsn))
    report = distribution.check(counts, org.predikat if org else distribution.default_organisation_predikat())
    report["organisation_predikat_set"] = org is not None
    report["npsn"] = a.school_npsn
    return report


async def distribution_preview(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str) -> dict:
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        require_ppk_view(principal, actions.DISTRIBUTION_READ, a)
        return await distribution_for(uow, a, predikat_of(a) if a.status == rules.OPEN else None)


def period_ak(period: PeriodView, predikat: Predikat, jenjang: str | None):
    if jenjang is None:
        return None
    return ak.angka_kredit(ak.months_of(period.month_start, period.month_end), predikat, jenjang)


def already_final(assessment_id: str, version: int) -> Conflict:
    # Names the final version, so a client that lost the first answer knows what stands.
    return Conflict(
        "penilaian_sudah_final",
        "Penilaian sudah final dan tidak dapat diubah; gunakan koreksi.",
        "The assessment is final and cannot be changed; file a correction.",
        details={"assessment_id": assessment_id, "version": version},
    )


async def finalize(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str, clock: Clock) -> dict:
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        await require_assessor(uow, principal, actions.ASSESSMENT_FINALIZE, a)
        if a.status == rules.FINAL:
            raise already_final(a.assessment_id, a.version)
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
        now = clock.now()
        windows.ensure_finalizable_now(window_of(period), await extension_until(uow, a.period_id, a.school_npsn, a.region), now)
        recorded, obs = await observation_state(uow, a.assessment_id)
        observation.ensure_complete(policy_for(period.policy).observation_required, set(recorded),
                                    started=bool(recorded), judged=bool(obs and obs.judgement))
        predikat: Predikat = ratings.predikat
        report = await distribution_for(uow, a, predikat)  # a warning, never a block
        jenjang = ak.jenjang_of(teacher.jenjang)
        value = period_ak(period, predikat, jenjang)
        a.status, a.finalized_at, a.updated_at = rules.FINAL, now, now
        a.assessor_nip = assessor.nip  # the assessor who signed it, as sent to e-Kinerja
        a.predikat, a.angka_kredit, a.jenjang = predikat.value, value, jenjang or ""
        uow.session.add(a)
        uow.session.add(AssessmentVersion(
            assessment_id=a.assessment_id, version=a.version, kind="final",
            rating_hasil_kerja=ratings.hasil_kerja.value, rating_perilaku_kerja=ratings.perilaku_kerja.value,
            predikat=predikat.value, angka_kredit=value, reason=a.rating_reason or "",
            created_by=principal.nip or "", created_by_role="ppk", created_at=now,
        ))
        uow.publish(finalized_event(a, period, teacher, assessor, ratings.hasil_kerja.value,
                                    ratings.perilaku_kerja.value, predikat, value, now), region=a.region)
        try:
            await uow.commit()
        except IntegrityError:
            # Two finalizes at once: both read "open"; the loser's version row clashes with
            # the winner's (assessment_versions' key). Answer as a later repeat does.
            await uow.rollback()
            status, version = (await uow.session.exec(
                select(Assessment.status, Assessment.version).where(Assessment.assessment_id == assessment_id))).one()
            if status != rules.FINAL:
                raise
            raise already_final(assessment_id, version) from None
        body = await view(uow, a)
        body["distribution"] = report
        return body


def finalized_event(a: Assessment, period: PeriodView, teacher: RosterPerson, assessor: RosterPerson,
                    hasil: str, perilaku: str, predikat: Predikat, value, now, *,
                    corrects_version: int | None = None, correction_reason: str | None = None) -> AssessmentFinalized:
    return AssessmentFinalized(
        assessment_id=a.assessment_id,
        assessment_version=a.version,
        plan_id=a.plan_id,
        period_id=a.period_id,
        year=period.year,
        month_start=period.month_start,
        month_end=period.month_end,
        school_npsn=a.school_npsn,
        teacher=person_ref(teacher),
        assessor=person_ref(assessor),
        # The unit the assessment belongs to: the teacher's school.
        assessor_unit=teacher.school_name or assessor.school_name,
        rating_hasil_kerja=hasil,
        rating_perilaku_kerja=perilaku,
        predikat=predikat.value,
        predikat_code=predikat.siasn_code,
        finalized_at=now,
        angka_kredit=value,
        corrects_version=corrects_version,
        correction_reason=correction_reason,
    )
