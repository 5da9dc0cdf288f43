"""After finalisation: corrections (a new version, never an edit), the assessed person's
acknowledgement or objection, and the Dinas' decision on an objection."""

from __future__ import annotations

import uuid

from kinerja_shared import access
from kinerja_shared.access_rules import assessment as actions
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock
from kinerja_shared.errors import Conflict, NotFound
from kinerja_shared.events.contracts import (
    AssessmentAcknowledged, AssessmentCorrected, AssessmentObjectionDecided, AssessmentObjectionFiled,
)
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory
from sqlmodel import select

from kinerja_assessment.adapters.tables import (
    Assessment, AssessmentVersion, Objection, PeriodView, RosterPerson,
)
from kinerja_assessment.domain import angka_kredit as ak
from kinerja_assessment.domain import corrections as rules
from kinerja_assessment.domain.assessment import parse_rating_input
from kinerja_assessment.domain.policy import policy_for
from kinerja_assessment.service_layer.assessments import (
    finalized_event, load, objection_view, period_ak, require_assessor, resource, view, versions_of,
)


async def _apply_correction(
    uow: UnitOfWork, a: Assessment, *, hasil: str, perilaku: str, reason: str, actor: str, role: str,
    now, objection_id: str | None = None,
) -> AssessmentVersion:
    """The new version: a row of its own, the assessment's current state, AssessmentCorrected
    and the full snapshot (AssessmentFinalized, same id, new version) for downstream mirrors."""
    previous = await uow.session.get(AssessmentVersion, (a.assessment_id, a.version))
    rules.ensure_changes((previous.rating_hasil_kerja, previous.rating_perilaku_kerja), (hasil, perilaku))
    given = parse_rating_input(hasil, perilaku, reason)
    predikat = given.predikat
    period = await uow.session.get(PeriodView, a.period_id)
    teacher = await uow.session.get(RosterPerson, a.teacher_nip)
    assessor = await uow.session.get(RosterPerson, a.assessor_nip)
    if period is None or teacher is None or assessor is None:
        raise Conflict("data_penilaian_belum_lengkap",
                       "Data guru, penilai atau periode belum lengkap; coba lagi sebentar lagi.",
                       "Teacher, assessor or period data not yet received.")
    value = period_ak(period, predikat, ak.jenjang_of(teacher.jenjang))
    corrects = a.version
    a.version += 1
    a.rating_hasil_kerja, a.rating_perilaku_kerja = hasil, perilaku
    a.predikat, a.angka_kredit, a.updated_at = predikat.value, value, now
    a.finalized_at = now  # the current version's finalisation opens its own response window
    uow.session.add(a)
    version = AssessmentVersion(
        assessment_id=a.assessment_id, version=a.version, kind="koreksi", rating_hasil_kerja=hasil,
        rating_perilaku_kerja=perilaku, predikat=predikat.value, angka_kredit=value, reason=reason,
        created_by=actor, created_by_role=role, objection_id=objection_id, created_at=now,
    )
    uow.session.add(version)
    uow.publish(AssessmentCorrected(
        assessment_id=a.assessment_id, assessment_version=a.version, corrects_version=corrects,
        plan_id=a.plan_id, period_id=a.period_id, teacher_nip=a.teacher_nip, school_npsn=a.school_npsn,
        previous_rating_hasil_kerja=previous.rating_hasil_kerja,
        previous_rating_perilaku_kerja=previous.rating_perilaku_kerja, previous_predikat=previous.predikat,
        rating_hasil_kerja=hasil, rating_perilaku_kerja=perilaku, predikat=predikat.value,
        predikat_code=predikat.siasn_code, angka_kredit=value, reason=reason, corrected_by=actor,
        corrected_by_role=role, objection_id=objection_id, corrected_at=now,
    ), region=a.region)
    uow.publish(finalized_event(a, period, teacher, assessor, hasil, perilaku, predikat, value, now,
                                corrects_version=corrects, correction_reason=reason), region=a.region)
    return version


async def correct(
    uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str, clock: Clock, *,
    corrects_version: object, rating_hasil_kerja: object, rating_perilaku_kerja: object, reason: object,
) -> dict:
    given = parse_rating_input(rating_hasil_kerja, rating_perilaku_kerja, reason)
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        # The PPK of record, or the Dinas of the assessment's region.
        relations = await require_assessor(uow, principal, actions.ASSESSMENT_CORRECT, a)
        role = "ppk" if "assessor" in relations else "dinas"
        rules.ensure_final(a.status)
        rules.ensure_corrects_latest(corrects_version, a.version)
        await _apply_correction(uow, a, hasil=given.hasil_kerja.value, perilaku=given.perilaku_kerja.value,
                                reason=given.reason, actor=principal.nip or principal.sub, role=role,
                                now=clock.now())
        await uow.commit()
        body = await view(uow, a)
        body["versions"] = await versions_of(uow, a.assessment_id)
        return body


async def _pending_objection(uow: UnitOfWork, assessment_id: str) -> Objection | None:
    return (await uow.session.exec(
        select(Objection).where(Objection.assessment_id == assessment_id, Objection.status == rules.PENDING)
    )).first()


async def _respond_checks(uow: UnitOfWork, principal: Principal, a: Assessment, now) -> int:
    access.require_action(principal, actions.ASSESSMENT_RESPOND)
    if not access.allows(principal, actions.ASSESSMENT_RESPOND, resource(a)):
        raise rules.not_the_assessed_person()
    period = await uow.session.get(PeriodView, a.period_id)
    window = policy_for(period.policy if period else None).objection_window_days
    rules.ensure_can_respond(
        status=a.status, responded_version=a.responded_version, version=a.version,
        pending_objection=await _pending_objection(uow, a.assessment_id) is not None,
        finalized_at=a.finalized_at or now, window_days=window, now=now,
    )
    return window


async def acknowledge(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str, clock: Clock) -> dict:
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        now = clock.now()
        await _respond_checks(uow, principal, a, now)
        a.response, a.responded_version, a.responded_at = rules.ACKNOWLEDGED, a.version, now
        uow.session.add(a)
        uow.publish(AssessmentAcknowledged(assessment_id=a.assessment_id, assessment_version=a.version,
                                           teacher_nip=a.teacher_nip, school_npsn=a.school_npsn,
                                           acknowledged_at=now), region=a.region)
        await uow.commit()
        return await view(uow, a)


async def file_objection(
    uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str, clock: Clock, *, reason: object,
) -> dict:
    text = rules.require_reason(reason)
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        now = clock.now()
        window = await _respond_checks(uow, principal, a, now)
        objection = Objection(objection_id=str(uuid.uuid4()), assessment_id=a.assessment_id, version=a.version,
                              reason=text, filed_by=principal.nip or "", filed_at=now)
        uow.session.add(objection)
        a.response, a.responded_version, a.responded_at = rules.OBJECTED, a.version, now
        uow.session.add(a)
        uow.publish(AssessmentObjectionFiled(
            objection_id=objection.objection_id, assessment_id=a.assessment_id, assessment_version=a.version,
            teacher_nip=a.teacher_nip, school_npsn=a.school_npsn, reason=text,
            deadline=rules.objection_deadline(a.finalized_at or now, window), filed_at=now,
        ), region=a.region)
        await uow.commit()
        return objection_view(objection)


async def decide_objection(
    uow_factory: UnitOfWorkFactory, principal: Principal, objection_id: str, clock: Clock, *,
    decision: object, reason: object, rating_hasil_kerja: object = None, rating_perilaku_kerja: object = None,
) -> dict:
    access.require_action(principal, actions.OBJECTION_DECIDE)
    outcome = rules.parse_decision(decision)
    text = rules.require_reason(reason)
    given = (parse_rating_input(rating_hasil_kerja, rating_perilaku_kerja, text)
             if outcome == rules.ACCEPTED else None)
    async with uow_factory() as uow:
        objection = await uow.session.get(Objection, objection_id)
        if objection is None:
            raise NotFound("keberatan_tidak_ditemukan", "Keberatan tidak ditemukan.", "Objection not found.")
        rules.ensure_pending(objection.status)
        a = await load(uow, objection.assessment_id)
        access.require(principal, actions.OBJECTION_DECIDE, resource(a))
        now = clock.now()
        actor = principal.nip or principal.sub
        if given is not None:
            version = await _apply_correction(
                uow, a, hasil=given.hasil_kerja.value, perilaku=given.perilaku_kerja.value, reason=text,
                actor=actor, role="dinas", now=now, objection_id=objection.objection_id,
            )
            objection.correction_version = version.version
        objection.status, objection.decision_reason = outcome, text
        objection.decided_by, objection.decided_at = actor, now
        uow.session.add(objection)
        uow.publish(AssessmentObjectionDecided(
            objection_id=objection.objection_id, assessment_id=a.assessment_id,
            assessment_version=objection.version, teacher_nip=a.teacher_nip, school_npsn=a.school_npsn,
            decision="DITERIMA" if outcome == rules.ACCEPTED else "DITOLAK", reason=text,
            correction_version=objection.correction_version, decided_by=actor, decided_at=now,
        ), region=a.region)
        await uow.commit()
        return objection_view(objection)
