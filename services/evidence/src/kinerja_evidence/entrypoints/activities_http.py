"""HTTP for daily activity reports and competency-development records (thin)."""

from __future__ import annotations

import json
from datetime import date
from typing import ClassVar, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from kinerja_shared import access
from kinerja_shared.access_rules import evidence as actions
from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.limits import ID_MAX, BoundedModel

from kinerja_evidence.adapters.tables import CompetencyRecord, DailyReport
from kinerja_evidence.domain.model import as_utc
from kinerja_evidence.service_layer import activities

router = APIRouter(prefix="/v1", tags=["activities"])


def _ctx(request: Request):
    return request.app.state.evidence


def _error(code: str, status: int, description: str) -> dict:
    return {status: {"description": f"`{code}`: {description}"}}


class ReportBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"evidence_ids": ID_MAX}

    plan_id: str = Field(..., min_length=1, max_length=64)
    target_id: str = Field(..., min_length=1, max_length=64)
    report_date: date
    activity: str = Field(..., max_length=4000)
    evidence_ids: list[str] = Field(default_factory=list, max_length=20)


class FixBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"evidence_ids": ID_MAX}

    activity: str = Field(..., max_length=4000)
    evidence_ids: list[str] = Field(default_factory=list, max_length=20)


class ReportReviewBody(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"report_ids": ID_MAX}

    plan_id: str = Field(..., min_length=1, max_length=64)
    decision: Literal["accepted", "needs_fix"]
    note: str | None = Field(None, max_length=2000)
    week_of: date | None = Field(None, description="any day of the week (Monday to Sunday) to review")
    report_ids: list[str] | None = Field(None, max_length=200)


@router.post(
    "/daily-reports", status_code=201,
    summary="Log a laporan harian against a monthly target of the agreed plan",
    responses={
        **_error("tanggal_laporan_tidak_valid", 422, "in the future, outside the period or the target's month"),
        **_error("target_bulanan_tidak_ditemukan", 422, "not a monthly target of the plan"),
        **_error("bukti_tidak_sesuai", 422, "an attached file is not the teacher's evidence on this plan"),
    },
    openapi_extra=access.action_extra(actions.DAILY_REPORT_WRITE),
)
async def submit_report(request: Request, principal: CurrentPrincipal, body: ReportBody) -> JSONResponse:
    ctx = _ctx(request)
    report = await activities.submit_report(
        ctx.uow, principal, plan_id=body.plan_id, target_id=body.target_id, report_date=body.report_date,
        activity=body.activity, evidence_ids=body.evidence_ids, today=ctx.today(),
    )
    return JSONResponse(_report(report), status_code=201)


@router.put("/daily-reports/{report_id}", summary="Revise a report the assessor asked to fix",
            openapi_extra=access.action_extra(actions.DAILY_REPORT_WRITE))
async def fix_report(request: Request, principal: CurrentPrincipal, report_id: str, body: FixBody) -> dict:
    report = await activities.fix_report(_ctx(request).uow, principal, report_id,
                                         activity=body.activity, evidence_ids=body.evidence_ids)
    return _report(report)


@router.get("/daily-reports", summary="The daily reports of one plan",
            openapi_extra=access.action_extra(actions.DAILY_REPORT_READ))
async def list_reports(request: Request, principal: CurrentPrincipal, plan_id: str = Query(..., min_length=1)) -> dict:
    return {"reports": [_report(r) for r in await activities.list_reports(_ctx(request).uow, principal, plan_id)]}


@router.post(
    "/daily-reports/review",
    summary="The assessor accepts, or asks for a fix with a note, a week of reports at once",
    responses={**_error("bukan_penilai", 403, "only the plan's assessor"),
               **_error("rencana_tidak_ditemukan", 404, "no plan with this `plan_id`"),
               **_error("catatan_wajib_diisi", 422, "a fix request needs a note")},
    openapi_extra=access.action_extra(actions.DAILY_REPORT_REVIEW),
)
async def review_reports(request: Request, principal: CurrentPrincipal, body: ReportReviewBody) -> dict:
    rows = await activities.review_reports(
        _ctx(request).uow, principal, plan_id=body.plan_id, decision=body.decision, note=body.note,
        week_of=body.week_of, report_ids=body.report_ids,
    )
    return {"reviewed": len(rows), "reports": [_report(r) for r in rows]}


class CompetencyBody(BoundedModel):
    plan_id: str = Field(..., min_length=1, max_length=64)
    item_id: str | None = Field(None, max_length=64)
    activity_type: str = Field(..., max_length=32, description="pelatihan, belajar_mandiri, komunitas_belajar, lainnya")
    title: str = Field(..., max_length=300)
    points: int = Field(..., le=10_000)  # JP of one activity; an integer column beyond that
    evidence_id: str = Field(..., max_length=ID_MAX, description="the certificate or report, uploaded as bukti dukung first")


class CompetencyReviewBody(BoundedModel):
    decision: Literal["verified", "rejected"]
    reason: str | None = Field(None, max_length=2000)


@router.post(
    "/competency-records", status_code=201,
    summary="Record a competency-development activity with its points and proof",
    responses={**_error("poin_melebihi_batas", 422, "points above the policy's bound per activity")},
    openapi_extra=access.action_extra(actions.COMPETENCY_RECORD_WRITE),
)
async def record_competency(request: Request, principal: CurrentPrincipal, body: CompetencyBody) -> JSONResponse:
    ctx = _ctx(request)
    record = await activities.record_competency(
        ctx.uow, principal, plan_id=body.plan_id, item_id=body.item_id, activity_type=body.activity_type,
        title=body.title, points=body.points, evidence_id=body.evidence_id, today=ctx.today(),
    )
    return JSONResponse(_record(record), status_code=201)


@router.post("/competency-records/{record_id}/review", summary="The assessor verifies or rejects a record",
             openapi_extra=access.action_extra(actions.COMPETENCY_RECORD_REVIEW))
async def review_competency(request: Request, principal: CurrentPrincipal, record_id: str,
                            body: CompetencyReviewBody) -> dict:
    return _record(await activities.review_competency(_ctx(request).uow, principal, record_id, body.decision, body.reason))


@router.get("/competency-records", summary="A plan's competency records and verified points against its target",
            openapi_extra=access.action_extra(actions.COMPETENCY_RECORD_READ))
async def competency_summary(request: Request, principal: CurrentPrincipal, plan_id: str = Query(..., min_length=1)) -> dict:
    summary = await activities.competency_summary(_ctx(request).uow, principal, plan_id)
    summary["records"] = [_record(r) for r in summary["records"]]
    return summary


def _report(r: DailyReport) -> dict:
    return {
        "report_id": r.report_id, "plan_id": r.plan_id, "period_id": r.period_id, "teacher_nip": r.teacher_nip,
        "target_id": r.target_id, "report_date": str(r.report_date), "activity": r.activity,
        "evidence_ids": json.loads(r.evidence_ids), "status": r.status, "review_note": r.review_note,
        "reviewed_by": r.reviewed_by, "reviewed_at": as_utc(r.reviewed_at).isoformat() if r.reviewed_at else None,
    }


def _record(r: CompetencyRecord) -> dict:
    return {
        "record_id": r.record_id, "plan_id": r.plan_id, "period_id": r.period_id, "teacher_nip": r.teacher_nip,
        "item_id": r.item_id, "activity_type": r.activity_type, "title": r.title, "points": r.points,
        "evidence_id": r.evidence_id, "status": r.status, "review_reason": r.review_reason,
        "reviewed_by": r.reviewed_by, "reviewed_at": as_utc(r.reviewed_at).isoformat() if r.reviewed_at else None,
    }
