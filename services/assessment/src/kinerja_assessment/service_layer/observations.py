"""Observasi Praktik Kinerja by the assessor of record: stages A..E in order, scores of the
plan's focus behaviours, the assessor's judgement. Each a state change with its event."""

from __future__ import annotations

import json
from datetime import date

from kinerja_shared import access
from kinerja_shared.access_rules import assessment as actions
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock, jakarta_date
from kinerja_shared.errors import AppError
from kinerja_shared.events.contracts import ObservationJudged, ObservationScored, ObservationStageRecorded
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

from kinerja_assessment.adapters.tables import Assessment, EvidenceView, Observation, ObservationStage
from kinerja_assessment.domain import assessment as assessment_rules
from kinerja_assessment.domain import observation as rules
from kinerja_assessment.service_layer.assessments import (
    load, observation_state, require_assessor, resource,
)
from kinerja_assessment.service_layer.read_model import DELETED


def focus_behaviours(a: Assessment) -> list[str]:
    items = json.loads(a.plan_items or "[]")
    return sorted({b for i in items if i.get("kind") == "praktik_kinerja" for b in i.get("focus_behaviours", [])})


async def _observer_checks(uow: UnitOfWork, principal: Principal, a: Assessment) -> None:
    # Self-observation first: a principal whose own plan this is gets the specific answer.
    access.require_action(principal, actions.OBSERVATION_RECORD)
    rules.ensure_not_self(principal.nip, a.teacher_nip)
    await require_assessor(uow, principal, actions.OBSERVATION_RECORD, a)
    assessment_rules.ensure_open(a.status)


async def _observation(uow: UnitOfWork, a: Assessment, observer: str) -> Observation:
    return await uow.session.get(Observation, a.assessment_id) or Observation(
        assessment_id=a.assessment_id, observer_nip=observer)


async def _lesson_plan(uow: UnitOfWork, a: Assessment, stage: str, evidence_id: object) -> str | None:
    """Stage A may name the lesson plan (modul ajar) the teacher uploaded as evidence of this
    plan; it must be in the read model and not deleted."""
    if evidence_id in (None, ""):
        return None
    found = await uow.session.get(EvidenceView, str(evidence_id)) if isinstance(evidence_id, str) else None
    if stage != "A" or found is None or found.plan_id != a.plan_id or found.status == DELETED:
        raise AppError("modul_ajar_tidak_valid",
                       "Modul ajar harus berupa bukti dukung rencana ini yang belum dihapus, dilampirkan pada tahap A.",
                       "The lesson plan must be this plan's (not deleted) evidence, attached at stage A.",
                       status_code=422)
    return found.evidence_id


def _parse_date(value: object) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise AppError("tanggal_tahap_tidak_valid", "Tanggal tahap harus berformat YYYY-MM-DD.",
                       "held_on must be YYYY-MM-DD.", status_code=422) from None


async def record_stage(
    uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str, clock: Clock, *,
    stage: object, held_on: object, participants: object, notes: object, lesson_plan_evidence_id: object = None,
) -> dict:
    day = _parse_date(held_on)
    people = rules.parse_participants(participants)
    text = notes.strip()[:8000] if isinstance(notes, str) else ""
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        await _observer_checks(uow, principal, a)
        now = clock.now()
        recorded, obs = await observation_state(uow, a.assessment_id)
        stage = rules.ensure_next_stage(recorded, stage, day, jakarta_date(now))
        lesson_plan = await _lesson_plan(uow, a, stage, lesson_plan_evidence_id)
        uow.session.add(ObservationStage(assessment_id=a.assessment_id, stage=stage, held_on=day,
                                         participants=json.dumps(people), notes=text,
                                         recorded_by=principal.nip or "", recorded_at=now,
                                         lesson_plan_evidence_id=lesson_plan))
        obs = obs or Observation(assessment_id=a.assessment_id, observer_nip=principal.nip or "")
        obs.updated_at = now
        uow.session.add(obs)
        uow.publish(ObservationStageRecorded(
            assessment_id=a.assessment_id, plan_id=a.plan_id, period_id=a.period_id, teacher_nip=a.teacher_nip,
            school_npsn=a.school_npsn, stage=stage, stage_label=rules.stages()[stage], held_on=day,
            participants=people, notes=text, recorded_by=principal.nip or "", recorded_at=now,
            lesson_plan_evidence_id=lesson_plan,
        ), region=a.region)
        await uow.commit()
        return await _view(uow, a)


async def record_scores(
    uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str, clock: Clock, *, scores: object,
) -> dict:
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        await _observer_checks(uow, principal, a)
        parsed = rules.parse_scores(scores, focus_behaviours(a))
        recorded, _ = await observation_state(uow, a.assessment_id)
        rules.ensure_stage_reached(recorded, "B", "Skor perilaku fokus")
        now = clock.now()
        obs = await _observation(uow, a, principal.nip or "")
        obs.scores, obs.updated_at = json.dumps(parsed), now
        uow.session.add(obs)
        uow.publish(ObservationScored(
            assessment_id=a.assessment_id, teacher_nip=a.teacher_nip, school_npsn=a.school_npsn,
            scores=[{k: s[k] for k in ("behaviour", "level", "evidence_notes", "follow_up")} for s in parsed],
            scored_by=principal.nip or "", scored_at=now,
        ), region=a.region)
        await uow.commit()
        return await _view(uow, a)


async def record_judgement(
    uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str, clock: Clock, *, body: dict,
) -> dict:
    judgement = rules.parse_judgement(body)
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        await _observer_checks(uow, principal, a)
        recorded, _ = await observation_state(uow, a.assessment_id)
        rules.ensure_stage_reached(recorded, "E", "Penilaian observasi")
        now = clock.now()
        obs = await _observation(uow, a, principal.nip or "")
        obs.judgement, obs.updated_at = json.dumps(judgement), now
        uow.session.add(obs)
        uow.publish(ObservationJudged(
            assessment_id=a.assessment_id, teacher_nip=a.teacher_nip, school_npsn=a.school_npsn,
            judged_by=principal.nip or "", judged_at=now, **judgement,
        ), region=a.region)
        await uow.commit()
        return await _view(uow, a)


async def get_observation(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str) -> dict:
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        access.require(principal, actions.OBSERVATION_READ, resource(a))
        return await _view(uow, a)


async def observation_view(uow: UnitOfWork, a: Assessment) -> dict:
    return await _view(uow, a)


async def _view(uow: UnitOfWork, a: Assessment) -> dict:
    from sqlmodel import select

    rows = (await uow.session.exec(
        select(ObservationStage).where(ObservationStage.assessment_id == a.assessment_id)
        .order_by(ObservationStage.stage)
    )).all()
    obs = await uow.session.get(Observation, a.assessment_id)
    labels = rules.stages()
    done = {r.stage for r in rows}
    return {
        "assessment_id": a.assessment_id,
        "teacher_nip": a.teacher_nip,
        "focus_behaviours": focus_behaviours(a),
        "stages": [{"stage": r.stage, "label": labels[r.stage], "held_on": r.held_on.isoformat(),
                    "participants": json.loads(r.participants), "notes": r.notes, "recorded_by": r.recorded_by,
                    "lesson_plan_evidence_id": r.lesson_plan_evidence_id}
                   for r in rows],
        "next_stage": next((s for s in labels if s not in done), None),
        "scores": json.loads(obs.scores) if obs else [],
        "judgement": json.loads(obs.judgement) if obs and obs.judgement else None,
        "complete": len(done) == len(labels) and bool(obs and obs.judgement),
    }
