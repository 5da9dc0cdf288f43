"""The HTTP API of the assessor's workbench: assessments, ratings, the distribution warning, the
workbench view, finalisation, corrections, acknowledgement and objections, observations, Dinas
settings (deadline extensions, organisation predikat), recaps and angka kredit. Thin: parse, call
the use case, shape the JSON."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from kinerja_shared import access
from kinerja_shared.access_rules import assessment as actions
from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.limits import ID_MAX, NAME_MAX, OFFSET_MAX, PAGE_LIMIT_MAX, REASON_MAX, BoundedModel

from kinerja_assessment.domain.policy import observation_rubric
from kinerja_assessment.service_layer import (
    after_final, assessments, dinas, observations, recaps, reviews, workbench,
)

router = APIRouter(prefix="/v1", tags=["assessments"])

RATING = "DI_ATAS, SESUAI or DI_BAWAH"


class RatingsBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"reason": REASON_MAX, "reason_hasil_kerja": REASON_MAX, "reason_perilaku_kerja": REASON_MAX,
                                         "perilaku_per_nilai": REASON_MAX}
    # Typed loosely on purpose: the domain answers a wrong value with a stable error code. Sizes
    # are bounded here (BoundedModel: every text TEXT_MAX unless bounded below, lists LIST_MAX).
    rating_hasil_kerja: Any = Field(None, description=RATING)
    rating_perilaku_kerja: Any = Field(None, description=f"{RATING}: the PPK's overall judgement")
    reason: Any = Field(None, description="the assessor's written reason (required; covers both ratings "
                                          "unless reason_hasil_kerja / reason_perilaku_kerja are given)")
    reason_hasil_kerja: Any = Field(None, description="optional reason for rating hasil kerja alone")
    reason_perilaku_kerja: Any = Field(None, description="optional reason for rating perilaku kerja alone")
    perilaku_per_nilai: Any = Field(
        None, description="optional: all seven BerAKHLAK values, each {rating, reason}: berorientasi_pelayanan, "
                          "akuntabel, kompeten, harmonis, loyal, adaptif, kolaboratif")


class CorrectionBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"reason": REASON_MAX}
    corrects_version: Any = Field(None, description="the version being corrected: must be the latest")
    rating_hasil_kerja: Any = None
    rating_perilaku_kerja: Any = None
    reason: Any = Field(None, description="why the correction (required)")


class ReasonBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"reason": REASON_MAX}
    reason: Any = None


class DecisionBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"reason": REASON_MAX}
    decision: Any = Field(None, description="DITERIMA or DITOLAK")
    reason: Any = None
    rating_hasil_kerja: Any = Field(None, description="DITERIMA: the corrected rating")
    rating_perilaku_kerja: Any = Field(None, description="DITERIMA: the corrected rating")


class StageBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"participants": NAME_MAX, "lesson_plan_evidence_id": ID_MAX}
    stage: Any = Field(None, description="A..E, in order")
    held_on: Any = Field(None, description="YYYY-MM-DD")
    participants: Any = Field(None, description="names of those taking part")
    notes: Any = ""
    lesson_plan_evidence_id: Any = Field(None, description="stage A: the lesson plan's evidence id (optional)")


class ScoresBody(BoundedModel):
    scores: Any = Field(None, description="[{behaviour, level, evidence_notes, follow_up}]")


class JudgementBody(BoundedModel):
    upaya_refleksi: Any = None
    upaya_mempelajari: Any = None
    perubahan_praktik: Any = None
    note: Any = None


class ReviewBody(BoundedModel):
    review: Any = Field(None, description='the month "YYYY-MM" or quarter "YYYY-Qn"')
    progress: Any = Field(None, description=RATING)
    feedback: Any = Field(None, description="the PPK's written feedback (required)")


class ExtensionBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"reason": REASON_MAX, "npsn": 8}
    until: Any = Field(None, description="YYYY-MM-DD, the new last day (Asia/Jakarta)")
    reason: Any = None
    npsn: str | None = Field(None, description="one school; absent: every school of the period")


class OrganisationPredikatBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"period_id": ID_MAX}
    period_id: Any = None
    predikat: Any = Field(None, description="ISTIMEWA, BAIK, BUTUH_PERBAIKAN, KURANG or SANGAT_KURANG")


def _uow(request: Request):
    return request.app.state.runtime.uow


def _clock(request: Request):
    return request.app.state.runtime.clock


@router.get("/assessments", summary="Assessments visible to the caller",
            openapi_extra=access.action_extra(actions.ASSESSMENT_READ))
async def list_assessments(
    request: Request,
    principal: CurrentPrincipal,
    period_id: str | None = None,
    npsn: str | None = None,
    teacher_nip: str | None = None,
    plan_id: str | None = None,
    limit: int = Query(500, ge=1, le=PAGE_LIMIT_MAX),
    offset: int = Query(0, ge=0, le=OFFSET_MAX),
) -> dict:
    return await assessments.list_assessments(
        _uow(request), principal, period_id=period_id, npsn=npsn, teacher_nip=teacher_nip,
        plan_id=plan_id, limit=limit, offset=offset,
    )


@router.get("/assessments/{assessment_id}", summary="One assessment with its versions and objections",
            openapi_extra=access.action_extra(actions.ASSESSMENT_READ))
async def get_assessment(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await assessments.get_assessment(_uow(request), principal, assessment_id)


@router.put("/assessments/{assessment_id}/ratings", summary="Record rating hasil kerja and perilaku kerja, with reasons",
            openapi_extra=access.action_extra(actions.ASSESSMENT_RATE))
async def put_ratings(assessment_id: str, body: RatingsBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await assessments.record_ratings(
        _uow(request), principal, assessment_id, _clock(request),
        rating_hasil_kerja=body.rating_hasil_kerja,
        rating_perilaku_kerja=body.rating_perilaku_kerja,
        reason=body.reason,
        reason_hasil_kerja=body.reason_hasil_kerja,
        reason_perilaku_kerja=body.reason_perilaku_kerja,
        perilaku_per_nilai=body.perilaku_per_nilai,
    )


@router.get("/assessments/{assessment_id}/distribution", summary="The school's predikat distribution (a warning)",
            openapi_extra=access.action_extra(actions.DISTRIBUTION_READ))
async def get_distribution(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await assessments.distribution_preview(_uow(request), principal, assessment_id)


@router.get("/assessments/{assessment_id}/workbench", summary="The PPK's one view of an assessment",
            openapi_extra=access.action_extra(actions.WORKBENCH_READ))
async def get_workbench(
    assessment_id: str,
    request: Request,
    principal: CurrentPrincipal,
    notes_limit: int = Query(10, ge=1, le=100, description="daily reports: a page of the latest 'needs_fix' notes"),
    notes_offset: int = Query(0, ge=0, le=OFFSET_MAX),
) -> dict:
    return await workbench.workbench(_uow(request), principal, assessment_id, _clock(request),
                                     notes_limit=notes_limit, notes_offset=notes_offset)


@router.post("/assessments/{assessment_id}/finalize", summary="Finalize: freezes it and mirrors it to e-Kinerja",
             openapi_extra=access.action_extra(actions.ASSESSMENT_FINALIZE))
async def finalize(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await assessments.finalize(_uow(request), principal, assessment_id, _clock(request))


@router.post("/assessments/{assessment_id}/corrections", summary="Correct a final assessment: a new version",
             openapi_extra=access.action_extra(actions.ASSESSMENT_CORRECT))
async def correct(assessment_id: str, body: CorrectionBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await after_final.correct(
        _uow(request), principal, assessment_id, _clock(request), corrects_version=body.corrects_version,
        rating_hasil_kerja=body.rating_hasil_kerja, rating_perilaku_kerja=body.rating_perilaku_kerja,
        reason=body.reason,
    )


@router.post("/assessments/{assessment_id}/acknowledge", summary="The assessed person acknowledges the result",
             openapi_extra=access.action_extra(actions.ASSESSMENT_RESPOND))
async def acknowledge(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await after_final.acknowledge(_uow(request), principal, assessment_id, _clock(request))


@router.post("/assessments/{assessment_id}/objections", status_code=201, summary="File a keberatan",
             openapi_extra=access.action_extra(actions.ASSESSMENT_RESPOND))
async def file_objection(assessment_id: str, body: ReasonBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await after_final.file_objection(_uow(request), principal, assessment_id, _clock(request), reason=body.reason)


@router.post("/objections/{objection_id}/decision", summary="The Dinas decides a keberatan",
             openapi_extra=access.action_extra(actions.OBJECTION_DECIDE))
async def decide(objection_id: str, body: DecisionBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await after_final.decide_objection(
        _uow(request), principal, objection_id, _clock(request), decision=body.decision, reason=body.reason,
        rating_hasil_kerja=body.rating_hasil_kerja, rating_perilaku_kerja=body.rating_perilaku_kerja,
    )


@router.get("/assessments/{assessment_id}/observation", summary="The Observasi Praktik Kinerja",
            openapi_extra=access.action_extra(actions.OBSERVATION_READ))
async def get_observation(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await observations.get_observation(_uow(request), principal, assessment_id)


@router.post("/assessments/{assessment_id}/observation/stages", status_code=201, summary="Record the next stage",
             openapi_extra=access.action_extra(actions.OBSERVATION_RECORD))
async def record_stage(assessment_id: str, body: StageBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await observations.record_stage(
        _uow(request), principal, assessment_id, _clock(request), stage=body.stage, held_on=body.held_on,
        participants=body.participants, notes=body.notes, lesson_plan_evidence_id=body.lesson_plan_evidence_id,
    )


@router.put("/assessments/{assessment_id}/observation/scores", summary="Score the focus behaviours",
            openapi_extra=access.action_extra(actions.OBSERVATION_RECORD))
async def record_scores(assessment_id: str, body: ScoresBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await observations.record_scores(_uow(request), principal, assessment_id, _clock(request), scores=body.scores)


@router.put("/assessments/{assessment_id}/observation/judgement", summary="Judge reflection, learning, change",
            openapi_extra=access.action_extra(actions.OBSERVATION_RECORD))
async def record_judgement(assessment_id: str, body: JudgementBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await observations.record_judgement(_uow(request), principal, assessment_id, _clock(request),
                                               body=body.model_dump())


@router.get("/assessments/{assessment_id}/reviews", summary="Periodic reviews (ruang-gtk-2025)",
            openapi_extra=access.action_extra(actions.REVIEW_READ))
async def get_reviews(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await reviews.list_reviews(_uow(request), principal, assessment_id)


@router.post("/assessments/{assessment_id}/reviews", status_code=201, summary="Record a periodic review",
             openapi_extra=access.action_extra(actions.REVIEW_RECORD))
async def post_review(assessment_id: str, body: ReviewBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await reviews.record_review(_uow(request), principal, assessment_id, _clock(request),
                                       review=body.review, progress=body.progress, feedback=body.feedback)


@router.get("/observation-rubric", summary="Stages, levels, judgements and focus behaviours (data)",
            openapi_extra=access.action_extra(actions.RUBRIC_READ))
async def get_rubric(principal: CurrentPrincipal) -> dict:
    access.require_action(principal, actions.RUBRIC_READ)
    return observation_rubric()


@router.post("/periods/{period_id}/extensions", status_code=201, summary="Dinas: extend the assessment deadline",
             openapi_extra=access.action_extra(actions.DEADLINE_EXTEND))
async def extend(period_id: str, body: ExtensionBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await dinas.extend_deadline(_uow(request), principal, period_id, _clock(request), until=body.until,
                                       reason=body.reason, npsn=body.npsn)


@router.put("/organisations/{npsn}/predikat", summary="Dinas: an organisation's own predikat",
            openapi_extra=access.action_extra(actions.ORGANISATION_PREDIKAT_SET))
async def set_org_predikat(npsn: str, body: OrganisationPredikatBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await dinas.set_organisation_predikat(_uow(request), principal, npsn, _clock(request),
                                                 period_id=body.period_id, predikat=body.predikat)


@router.get("/recaps", summary="Counts per predikat and jenjang, completion against the deadline",
            openapi_extra=access.action_extra(actions.RECAP_READ))
async def get_recap(
    request: Request,
    principal: CurrentPrincipal,
    period_id: str,
    level: str = Query(..., description="school, district or province",
                       json_schema_extra={"enum": ["school", "district", "province"]}),
    code: str = Query(..., description="NPSN, district code or province code"),
    limit: int = Query(100, ge=1, le=PAGE_LIMIT_MAX),
    offset: int = Query(0, ge=0, le=OFFSET_MAX),
) -> dict:
    return await recaps.recap(_uow(request), principal, _clock(request), period_id=period_id, level=level,
                              code=code, limit=limit, offset=offset)


@router.get("/people/{nip}/angka-kredit", summary="Angka kredit per period, cumulative, and what remains",
            openapi_extra=access.action_extra(actions.ANGKA_KREDIT_READ))
async def get_angka_kredit(nip: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await recaps.angka_kredit(_uow(request), principal, nip)


@router.get("/people/{nip}/annual/{year}", summary="The annual predikat from the year's assessments",
            openapi_extra=access.action_extra(actions.ANNUAL_READ))
async def get_annual(nip: str, request: Request, principal: CurrentPrincipal,
                     year: int = Path(ge=2000, le=2100)) -> dict:
    return await recaps.annual(_uow(request), principal, nip, year)
