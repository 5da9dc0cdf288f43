"""The HTTP API: the sync log per teacher and per school, and the operators' record list. Every
record has a ``kind``: hasil (final result), skp (agreed plan) or review_periodik (periodic review)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.limits import PAGE_LIMIT_MAX

from kinerja_ekinerja_sync.service_layer import operator, queries, reconciliation

router = APIRouter(prefix="/v1", tags=["sync log"])


KIND = Query(None, description="hasil (final results), skp (agreed plans) or review_periodik (periodic "
                               "reviews); all kinds when not given")


@router.get("/sync-log/teachers/{nip}", summary="Log Sinkronisasi of one teacher")
async def teacher_sync_log(nip: str, request: Request, principal: CurrentPrincipal, kind: str | None = KIND) -> dict:
    return await queries.teacher_log(request.app.state.runtime.uow, principal, nip, kind)


@router.get("/sync-log/schools/{npsn}", summary="Log Sinkronisasi of one school")
async def school_sync_log(npsn: str, request: Request, principal: CurrentPrincipal, kind: str | None = KIND) -> dict:
    return await queries.school_log(request.app.state.runtime.uow, principal, npsn, kind)


@router.get("/sync-log/districts/{region}", summary="Log Sinkronisasi of a district (or a province: xx0000)")
async def district_sync_log(
    region: str, request: Request, principal: CurrentPrincipal,
    status: str | None = Query(None, description="pending, sending, retrying, acknowledged, parked, skipped, superseded"),
    limit: int = Query(200, ge=1, le=PAGE_LIMIT_MAX),
    before: str | None = Query(None, max_length=128, description="next_before of the previous page"),
    kind: str | None = KIND,
) -> dict:
    return await queries.district_log(request.app.state.runtime.uow, principal, region, status, limit, before, kind)


@router.get("/sync-records", summary="Sync records by status, for operators (dinas)")
async def sync_records(
    request: Request,
    principal: CurrentPrincipal,
    status: str | None = Query(None, description="pending, sending, retrying, acknowledged, parked, skipped, superseded"),
    limit: int = Query(200, ge=1, le=PAGE_LIMIT_MAX),
    kind: str | None = KIND,
) -> dict:
    result = await queries.records_by_status(request.app.state.runtime.uow, principal, status, limit, kind)
    # The breaker toward BKN, so an operator sees why nothing moves while BKN is down.
    result["breaker"] = request.app.state.runtime.worker.breaker.snapshot()
    return result


@router.post("/sync-records/{assessment_id}/retry", summary="Re-queue a parked record (dinas)",
             description="The record's key: the assessment id (hasil), the plan id (skp) or "
                         "'<assessment id>:<review>' (review_periodik), as `key` in the sync log.")
async def retry_parked(assessment_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    return await operator.requeue_parked(request.app.state.runtime.uow, principal, assessment_id)


@router.get("/reconciliation", summary="Compare a period and region with e-Kinerja (report only)")
async def reconciliation_report(
    request: Request, principal: CurrentPrincipal,
    period: str = Query(..., description="TAHUN-BULANMULAI-BULANSELESAI, e.g. 2026-1-6"),
    region: str = Query(..., description="6-digit region code (xx0000 = a province)"),
    kind: str = Query("hasil", description="hasil (final results) or skp (agreed plans)"),
) -> dict:
    runtime = request.app.state.runtime
    return await reconciliation.reconcile(runtime.uow, runtime.worker.client, principal, period, region, kind=kind)


@router.post("/reconciliation", summary="Run a reconciliation; requeue_missing re-sends the missing ones")
async def reconciliation_run(
    request: Request, principal: CurrentPrincipal,
    period: str = Query(...), region: str = Query(...), requeue_missing: bool = Query(False),
    kind: str = Query("hasil", description="hasil (final results) or skp (agreed plans)"),
) -> dict:
    runtime = request.app.state.runtime
    return await reconciliation.reconcile(
        runtime.uow, runtime.worker.client, principal, period, region, requeue_missing=requeue_missing, kind=kind,
    )


@router.get("/reconciliation/scheduled", summary="Latest report of the scheduled reconciliation job")
async def reconciliation_scheduled(request: Request, principal: CurrentPrincipal) -> dict:
    if principal.role not in queries.DINAS_ROLES:
        raise queries._forbidden("Hanya dinas yang dapat melihat rekonsiliasi.", "Only the dinas may read reconciliations.")
    return {"reports": request.app.state.runtime.reconciliation.latest}
