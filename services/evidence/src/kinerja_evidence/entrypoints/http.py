"""The HTTP API of the evidence service (thin: parse, call the use case, shape the JSON)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_evidence.adapters.storage import ObjectStorage
from kinerja_evidence.adapters.tables import Evidence
from kinerja_evidence.domain.model import as_utc
from kinerja_evidence.entrypoints.multipart import invalid_input, receive_form
from kinerja_evidence.service_layer import queries, uploads
from kinerja_evidence.settings import Settings

router = APIRouter(prefix="/v1", tags=["evidence"])


@dataclass
class EvidenceContext:
    uow: UnitOfWorkFactory
    storage: ObjectStorage
    settings: Settings


def _context(request: Request) -> EvidenceContext:
    return request.app.state.evidence


def _error(code: str, status: int, description: str) -> dict:
    return {status: {"description": f"`{code}`: {description}"}}


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["plan_id", "file"],
                    "properties": {
                        "plan_id": {"type": "string", "description": "an agreed (disepakati) plan of the caller"},
                        "file": {"type": "string", "format": "binary", "description": "PDF, JPEG, PNG, DOCX, XLSX, PPTX or MP4"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/evidence",
    status_code=201,
    summary="Upload a bukti dukung for an agreed plan (multipart: plan_id, file)",
    openapi_extra=_UPLOAD_BODY,
    responses={
        **_error("rencana_belum_disepakati", 409, "no approved plan with this id"),
        **_error("akses_ditolak", 403, "the plan belongs to someone else"),
        **_error("berkas_kosong", 422, "empty file (also `input_tidak_valid`: missing field)"),
        **_error("berkas_terlalu_besar", 413, "over KINERJA_EVIDENCE_MAX_BYTES"),
        **_error("jenis_berkas_tidak_didukung", 415, "content is not an allowed type"),
    },
)
async def upload(request: Request, principal: CurrentPrincipal) -> JSONResponse:
    ctx = _context(request)

    async def refuse_early(fields: dict[str, str]) -> None:
        # plan_id came before the file (as browsers and most clients send it): refuse a
        # wrong plan before its bytes travel over a poor connection.
        if fields.get("plan_id"):
            await uploads.check_upload_allowed(ctx.uow, principal, fields["plan_id"])

    form = await receive_form(
        request, file_field="file", max_file_bytes=ctx.settings.evidence_max_bytes,
        before_file=refuse_early,
    )
    try:
        plan_id = form.fields.get("plan_id", "")
        if not plan_id:
            raise invalid_input("wajib diisi", "plan_id", "plan_id is required.")
        if form.file is None:
            raise invalid_input("wajib diisi", "file", "file is required.")
        row = await uploads.upload_evidence(
            ctx.uow, ctx.storage, principal, plan_id,
            uploads.IncomingFile(form.file, form.file_size, form.file_name),
            max_bytes=ctx.settings.evidence_max_bytes,
        )
    finally:
        form.close()
    body = {k: v for k, v in _view(row).items() if k in _UPLOAD_FIELDS}
    return JSONResponse(body, status_code=201)


_UPLOAD_FIELDS = ("evidence_id", "plan_id", "sha256", "size_bytes", "content_type", "file_name", "uploaded_at")


@router.get("/evidence", summary="The bukti dukung of one plan")
async def list_for_plan(
    request: Request, principal: CurrentPrincipal, plan_id: str = Query(..., min_length=1)
) -> dict:
    rows = await queries.list_evidence(_context(request).uow, principal, plan_id)
    return {"evidence": [_view(row) for row in rows]}


@router.get("/evidence/{evidence_id}", summary="One bukti dukung")
async def get_one(request: Request, principal: CurrentPrincipal, evidence_id: str) -> dict:
    return _view(await queries.get_evidence(_context(request).uow, principal, evidence_id))


@router.get(
    "/evidence/{evidence_id}/download",
    summary="A short-lived presigned URL to download the file from object storage",
)
async def download(request: Request, principal: CurrentPrincipal, evidence_id: str) -> dict:
    ctx = _context(request)
    ttl = ctx.settings.evidence_presign_ttl_s
    url = await queries.download_link(ctx.uow, ctx.storage, principal, evidence_id, ttl_s=ttl)
    return {"url": url, "expires_in_s": ttl}


def _view(row: Evidence) -> dict:
    return {
        "evidence_id": row.evidence_id,
        "plan_id": row.plan_id,
        "period_id": row.period_id,
        "teacher_nip": row.teacher_nip,
        "school_npsn": row.school_npsn,
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "content_type": row.content_type,
        "file_name": row.file_name,
        "uploaded_at": as_utc(row.uploaded_at).isoformat(),
    }
