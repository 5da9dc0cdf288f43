"""The HTTP API of the assessor's workbench (thin path): list, read, rate, finalize."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kinerja_shared.auth import CurrentPrincipal

from kinerja_assessment.service_layer import assessments

router = APIRouter(prefix="/v1", tags=["assessments"])


class RatingsBody(BaseModel):
    # Typed loosely on purpose: the domain answers a wrong value with "rating_tidak_valid".
    rating_hasil_kerja: Any = Field(None, description="DI_ATAS, SESUAI or DI_BAWAH")
    rating_perilaku_kerja: Any = Field(None, description="DI_ATAS, SESUAI or DI_BAWAH")
    reason: str | None = Field(None, max_length=4000, description="the assessor's written reason")


def _uow(request: Request):
    return request.app.state.runtime.uow


@router.get("/assessments", summary="Assessments visible to the caller")
async def list_assessments(
    request: Request,
    principal: CurrentPrincipal,
    period_id: str | None = None,
    npsn: str | None = None,
    teacher_nip: str | None = None,
    plan_id: str | None = None,
    limit: int = Query(500, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict:
    return await assessments.list_assessments(
        _uow(request), principal, period_id=period_id, npsn=npsn, teacher_nip=teacher_nip,
        plan_id=plan_id, limit=limit, offset=offset,
    )


@router.get("/assessments/{assessment_id}", summary="One assessment")
async def get_assessment(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await assessments.get_assessment(_uow(request), principal, assessment_id)


@router.put("/assessments/{assessment_id}/ratings", summary="Record rating hasil kerja and perilaku kerja")
async def put_ratings(assessment_id: str, body: RatingsBody, request: Request, principal: CurrentPrincipal) -> dict:
    return await assessments.record_ratings(
        _uow(request), principal, assessment_id,
        rating_hasil_kerja=body.rating_hasil_kerja,
        rating_perilaku_kerja=body.rating_perilaku_kerja,
        reason=body.reason,
    )


@router.post("/assessments/{assessment_id}/finalize", summary="Finalize: freezes it and mirrors it to e-Kinerja")
async def finalize(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await assessments.finalize(_uow(request), principal, assessment_id)
