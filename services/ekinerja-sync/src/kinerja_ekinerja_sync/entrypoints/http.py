"""The HTTP API: the sync log per teacher and per school, and the operators' record list. Every
record has a ``kind``: hasil (final result), skp (agreed plan) or review_periodik (periodic review)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request

from kinerja_shared import access
from kinerja_shared.access_rules import ekinerja_sync as actions
from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.limits import PAGE_LIMIT_MAX

from kinerja_ekinerja_sync.domain import model
from kinerja_ekinerja_sync.service_layer import operator, queries, reconciliation

router = APIRouter(prefix="/v1", tags=["sync log"])


def _bad(*items: tuple[str, str]) -> dict:
    """The 400s the service layer answers for a parameter it checks itself."""
    return {400: {"description": "; ".join(f"`{code}`: {text}" for code, text in items)}}


_KIND_400 = ("jenis_rekaman_tidak_dikenal", "`kind` is not one of the kinds")
_STATUS_400 = ("status_tidak_dikenal", "`status` is not one of the statuses")
# The allowed values go into the document (the service layer answers the 400s above for others).
KIND = Query(None, description="hasil (final results), skp (agreed plans) or review_periodik (periodic "
                               "reviews); all kinds when not given", json_schema_extra={"enum": list(model.KINDS)})
STATUS = Query(None, description="pending, sending, retrying, acknowledged, parked, skipped, superseded",
               json_schema_extra={"enum": list(model.STATUSES)})
NIP = Path(json_schema_extra={"pattern": "^[0-9]{18}$"})
NPSN = Path(json_schema_extra={"pattern": "^[0-9]{8}$"})
REGION = Path(json_schema_extra={"pattern": "^[0-9]{6}$"})
RECONCILE_KIND = Query("hasil", description="hasil (final results) or skp (agreed plans)",
                       json_schema_extra={"enum": ["hasil", "skp"]})
RECONCILE_400 = _bad(("periode_tidak_valid", "`period` is not YEAR-MONTHSTART-MONTHEND"),
                     ("wilayah_tidak_valid", "`region` is not 6 digits within yours"),
                     ("jenis_rekaman_tidak_dikenal", "`kind` is not hasil or skp"))


@router.get("/sync-log/teachers/{nip}", summary="Log Sinkronisasi of one teacher",
            responses=_bad(("nip_tidak_valid", "not 18 digits"), _KIND_400),
            openapi_extra=access.action_extra(actions.TEACHER_LOG_READ))
async def teacher_sync_log(request: Request, principal: CurrentPrincipal, kind: str | None = KIND,
                           nip: str = NIP) -> dict:
    return await queries.teacher_log(request.app.state.runtime.uow, principal, nip, kind)


@router.get("/sync-log/schools/{npsn}", summary="Log Sinkronisasi of one school",
            responses=_bad(("npsn_tidak_valid", "not 8 digits"), _KIND_400),
            openapi_extra=access.action_extra(actions.SCHOOL_LOG_READ))
async def school_sync_log(request: Request, principal: CurrentPrincipal, kind: str | None = KIND,
                          npsn: str = NPSN) -> dict:
    return await queries.school_log(request.app.state.runtime.uow, principal, npsn, kind)


@router.get("/sync-log/districts/{region}", summary="Log Sinkronisasi of a district (or a province: xx0000)",
            responses={**_bad(("wilayah_tidak_valid", "not 6 digits"), _STATUS_400, _KIND_400),
                       422: {"description": "`kursor_tidak_valid`: `before` is not the previous page's "
                                            "next_before (ISO 8601 with its offset); `input_tidak_valid`"}},
            openapi_extra=access.action_extra(actions.DISTRICT_LOG_READ))
async def district_sync_log(
    request: Request, principal: CurrentPrincipal,
    region: str = REGION,
    status: str | None = STATUS,
    limit: int = Query(200, ge=1, le=PAGE_LIMIT_MAX),
    before: str | None = Query(None, max_length=128, description="next_before of the previous page"),
    kind: str | None = KIND,
) -> dict:
    return await queries.district_log(request.app.state.runtime.uow, principal, region, status, limit, before, kind)


@router.get("/sync-records", summary="Sync records by status, for operators (dinas)",
            responses=_bad(_STATUS_400, _KIND_400),
            openapi_extra=access.action_extra(actions.SYNC_RECORD_READ))
async def sync_records(
    request: Request,
    principal: CurrentPrincipal,
    status: str | None = STATUS,
    limit: int = Query(200, ge=1, le=PAGE_LIMIT_MAX),
    kind: str | None = KIND,
) -> dict:
    result = await queries.records_by_status(request.app.state.runtime.uow, principal, status, limit, kind)
    # The breaker toward BKN, so an operator sees why nothing moves while BKN is down.
    result["breaker"] = request.app.state.runtime.worker.breaker.snapshot()
    return result


@router.post("/sync-records/{assessment_id}/retry", summary="Re-queue a parked record (dinas)",
             description="The record's key: the assessment id (hasil), the plan id (skp) or "
                         "'<assessment id>:<review>' (review_periodik), as `key` in the sync log.",
             openapi_extra=access.action_extra(actions.SYNC_RECORD_REQUEUE))
async def retry_parked(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await operator.requeue_parked(request.app.state.runtime.uow, principal, assessment_id)


@router.get("/reconciliation", summary="Compare a period and region with e-Kinerja (report only)",
            responses=RECONCILE_400,
            openapi_extra=access.action_extra(actions.RECONCILIATION_READ))
async def reconciliation_report(
    request: Request, principal: CurrentPrincipal,
    period: str = Query(..., description="TAHUN-BULANMULAI-BULANSELESAI, e.g. 2026-1-6"),
    region: str = Query(..., description="6-digit region code (xx0000 = a province)"),
    kind: str = RECONCILE_KIND,
) -> dict:
    runtime = request.app.state.runtime
    return await reconciliation.reconcile(runtime.uow, runtime.worker.client, principal, period, region, kind=kind)


@router.post("/reconciliation", summary="Run a reconciliation; requeue_missing re-sends the missing ones",
             responses=RECONCILE_400,
             openapi_extra=access.action_extra(actions.RECONCILIATION_RUN))
async def reconciliation_run(
    request: Request, principal: CurrentPrincipal,
    period: str = Query(...), region: str = Query(...), requeue_missing: bool = Query(False),
    kind: str = RECONCILE_KIND,
) -> dict:
    runtime = request.app.state.runtime
    return await reconciliation.reconcile(
        runtime.uow, runtime.worker.client, principal, period, region, requeue_missing=requeue_missing, kind=kind,
        run=True,
    )


@router.get("/reconciliation/scheduled", summary="Latest report of the scheduled reconciliation job",
            openapi_extra=access.action_extra(actions.RECONCILIATION_READ))
async def reconciliation_scheduled(request: Request, principal: CurrentPrincipal) -> dict:
    return {"reports": reconciliation.scheduled_reports(request.app.state.runtime.reconciliation, principal)}
