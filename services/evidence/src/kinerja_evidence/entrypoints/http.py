"""The HTTP API of the evidence service (thin: parse, call the use case, shape the JSON)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kinerja_shared import access
from kinerja_shared.access_rules import evidence as actions
from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.body_limits import OWN_BODY_LIMIT
from kinerja_shared.clock import Clock, SystemClock, jakarta_date
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_evidence.adapters.storage import ObjectStorage
from kinerja_evidence.adapters.tables import Evidence
from kinerja_evidence.domain.model import as_utc
from kinerja_evidence.entrypoints.multipart import invalid_input, receive_form
from kinerja_evidence.service_layer import queries, resumable, review, uploads
from kinerja_evidence.settings import Settings

router = APIRouter(prefix="/v1", tags=["evidence"])


@dataclass
class EvidenceContext:
    uow: UnitOfWorkFactory
    storage: ObjectStorage
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    part_slots: asyncio.Semaphore = field(init=False)
    parts_in_flight: resumable.PartsInFlight = field(default_factory=resumable.PartsInFlight)

    def __post_init__(self) -> None:
        self.part_slots = asyncio.Semaphore(self.settings.upload_parts_in_flight)

    @property
    def upload_config(self) -> resumable.UploadConfig:
        return resumable.UploadConfig(
            part_size=self.settings.upload_part_size_bytes,
            expiry_s=self.settings.upload_expiry_s,
            presign_put_ttl_s=self.settings.upload_presign_put_ttl_s,
            type_limits=self.settings.evidence_type_max_bytes,
            today=self.today(),
            max_open_per_user=self.settings.max_open_uploads_per_user,
        )

    def today(self):
        return jakarta_date(self.clock.now())


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
                        "item_id": {"type": "string", "description": "optional: the plan item it supports"},
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
    openapi_extra={**_UPLOAD_BODY, **access.action_extra(actions.EVIDENCE_UPLOAD)},
    max_body_size=OWN_BODY_LIMIT,  # receive_form limits the file (KINERJA_EVIDENCE_MAX_BYTES)
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

    early: dict = {}

    async def refuse_early(fields: dict[str, str]) -> None:
        # plan_id came before the file (as browsers and most clients send it): refuse a
        # wrong plan before its bytes travel over a poor connection.
        if fields.get("plan_id"):
            key = (fields["plan_id"], fields.get("item_id") or None)
            early[key] = await uploads.check_target(
                ctx.uow, principal, key[0], key[1],
                type_limits=ctx.settings.evidence_type_max_bytes, today=ctx.today(),
            )

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
            item_id=form.fields.get("item_id") or None,
            type_limits=ctx.settings.evidence_type_max_bytes,
            today=ctx.today(),
            checked=early.get((plan_id, form.fields.get("item_id") or None)),
        )
    finally:
        form.close()
    body = {k: v for k, v in _view(row).items() if k in _UPLOAD_FIELDS}
    return JSONResponse(body, status_code=201)


_UPLOAD_FIELDS = ("evidence_id", "plan_id", "sha256", "size_bytes", "content_type", "file_name", "uploaded_at")


@router.get("/evidence", summary="The bukti dukung of one plan",
            openapi_extra=access.action_extra(actions.EVIDENCE_READ))
async def list_for_plan(
    request: Request, principal: CurrentPrincipal, plan_id: str = Query(..., min_length=1),
    item_id: str | None = Query(None),
) -> dict:
    rows = await queries.list_evidence(_context(request).uow, principal, plan_id)
    if item_id:
        rows = [r for r in rows if r.item_id == item_id]
    return {"evidence": [_view(row, principal) for row in rows]}


@router.get("/evidence/{evidence_id}", summary="One bukti dukung",
            openapi_extra=access.action_extra(actions.EVIDENCE_READ))
async def get_one(request: Request, principal: CurrentPrincipal, evidence_id: str) -> dict:
    return _view(await queries.get_evidence(_context(request).uow, principal, evidence_id), principal)


class ReviewBody(BaseModel):
    decision: Literal["verified", "rejected"]
    reason: str | None = Field(None, max_length=2000, description="required when rejected; shown to the teacher")


@router.post(
    "/evidence/{evidence_id}/review",
    summary="The assessor verifies or rejects a bukti dukung (with a reason)",
    responses={
        **_error("bukan_penilai", 403, "only the teacher's assessor (PPK)"),
        **_error("alasan_wajib_diisi", 422, "a rejection needs a reason"),
        **_error("penilaian_sudah_final", 409, "the period's assessment is final"),
    },
    openapi_extra=access.action_extra(actions.EVIDENCE_REVIEW),
)
async def review_one(request: Request, principal: CurrentPrincipal, evidence_id: str, body: ReviewBody) -> dict:
    row = await review.review_evidence(_context(request).uow, principal, evidence_id, body.decision, body.reason)
    return _view(row, principal)


@router.delete(
    "/evidence/{evidence_id}",
    status_code=204,
    summary="The owner withdraws a bukti dukung (object removed, EvidenceDeleted published)",
    responses={**_error("penilaian_sudah_final", 409, "the period's assessment is final")},
    openapi_extra=access.action_extra(actions.EVIDENCE_DELETE),
)
async def delete_one(request: Request, principal: CurrentPrincipal, evidence_id: str) -> Response:
    ctx = _context(request)
    await review.delete_evidence(ctx.uow, ctx.storage, principal, evidence_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- resumable uploads


class StartUploadBody(BaseModel):
    plan_id: str = Field(..., min_length=1, max_length=64)
    item_id: str | None = Field(None, max_length=64)
    file_name: str = Field(..., max_length=1000, description="metadata only, cleaned")
    size_bytes: int = Field(..., ge=0, description="the whole file's size")
    content_type: str = Field(..., max_length=128, description="declared; must match the bytes")
    sha256: str | None = Field(None, max_length=64, description="optional: the whole file's SHA-256 (hex), checked at the end")
    mode: Literal["parts", "presigned"] = "parts"


@router.post(
    "/uploads",
    status_code=201,
    summary="Start a resumable upload (parts through the service, or a presigned PUT)",
    responses={
        **_error("jenis_berkas_tidak_didukung", 415, "declared type not allowed by the period's policy"),
        **_error("berkas_terlalu_besar", 413, "over the type's limit"),
        **_error("masa_pelaksanaan_ditutup", 409,
                 "outside the execution window; `unggahan_terbuka_terlalu_banyak`: the caller holds "
                 "KINERJA_MAX_OPEN_UPLOADS_PER_USER open sessions already (details.max_open, open)"),
    },
    openapi_extra=access.action_extra(actions.EVIDENCE_UPLOAD),
)
async def start_upload(request: Request, principal: CurrentPrincipal, body: StartUploadBody) -> JSONResponse:
    ctx = _context(request)
    session, url = await resumable.start_upload(
        ctx.uow, ctx.storage, principal,
        resumable.StartRequest(body.plan_id, body.item_id or None, body.file_name, body.size_bytes,
                               body.content_type, body.sha256, body.mode),
        ctx.upload_config,
    )
    view = _upload_view(resumable.UploadState(session))
    if url:
        view["upload_url"] = url
        view["upload_url_expires_in_s"] = ctx.settings.upload_presign_put_ttl_s
    return JSONResponse(view, status_code=201)


@router.get("/uploads/{upload_id}", summary="What the server has of an upload (parts, offset)",
            openapi_extra=access.action_extra(actions.EVIDENCE_UPLOAD))
async def upload_status(request: Request, principal: CurrentPrincipal, upload_id: str) -> dict:
    return _upload_view(await resumable.upload_state(_context(request).uow, principal, upload_id))


@router.put(
    "/uploads/{upload_id}/parts/{part_number}",
    summary="Send one part (raw bytes, X-Part-SHA256 header); parts go in order",
    max_body_size=OWN_BODY_LIMIT,  # a part is limited by the upload (KINERJA_UPLOAD_PART_SIZE_BYTES)
    openapi_extra={**{"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}, **access.action_extra(actions.EVIDENCE_UPLOAD)},
    responses={
        **_error("bagian_tidak_berurutan", 409, "not the next part (details.expected_part)"),
        **_error("checksum_bagian_salah", 422, "the part's SHA-256 differs from X-Part-SHA256"),
        **_error("ukuran_bagian_salah", 422, "every part but the last is exactly part_size"),
        **_error("akses_ditolak", 403, "someone else's upload"),
    },
)
async def put_part(request: Request, principal: CurrentPrincipal, upload_id: str, part_number: int) -> dict:
    ctx = _context(request)
    length = request.headers.get("content-length")
    state = await resumable.put_part(
        ctx.uow, ctx.storage, principal, upload_id, part_number, request.stream(),
        part_sha256=request.headers.get("x-part-sha256"),
        content_length=int(length) if length and length.isdigit() else None,
        slots=ctx.part_slots, expiry_s=ctx.settings.upload_expiry_s, in_flight=ctx.parts_in_flight,
    )
    return _upload_view(state)


@router.post(
    "/uploads/{upload_id}/complete",
    status_code=201,
    summary="Finish an upload: whole-file checks, then it counts as evidence",
    responses={
        **_error("unggahan_belum_lengkap", 409, "parts missing / object not in storage yet"),
        **_error("checksum_berkas_salah", 422, "whole-file SHA-256 differs from the declared one"),
        **_error("isi_berkas_tidak_valid", 422, "truncated PDF, ZIP bomb, ..."),
        **_error("jenis_berkas_tidak_sesuai", 415, "content differs from the declared type"),
    },
    openapi_extra=access.action_extra(actions.EVIDENCE_UPLOAD),
)
async def complete_upload(request: Request, principal: CurrentPrincipal, upload_id: str) -> JSONResponse:
    ctx = _context(request)
    row = await resumable.complete_upload(ctx.uow, ctx.storage, principal, upload_id, ctx.upload_config)
    return JSONResponse(_view(row, principal), status_code=201)


@router.delete("/uploads/{upload_id}", status_code=204, summary="Abandon an upload (parts removed)",
               openapi_extra=access.action_extra(actions.EVIDENCE_UPLOAD))
async def abort_upload(request: Request, principal: CurrentPrincipal, upload_id: str) -> Response:
    ctx = _context(request)
    await resumable.abort_upload(ctx.uow, ctx.storage, principal, upload_id)
    return Response(status_code=204)


def _upload_view(state: resumable.UploadState) -> dict:
    s = state.session
    return {
        "upload_id": s.upload_id,
        "mode": s.mode,
        "status": s.status,
        "plan_id": s.plan_id,
        "item_id": s.item_id,
        "evidence_id": s.evidence_id if s.status == resumable.COMPLETED else None,
        "file_name": s.file_name,
        "content_type": s.declared_type,
        "size_bytes": s.size_bytes,
        "part_size": s.part_size,
        "parts_total": s.parts_total,
        "parts_received": list(range(1, state.received + 1)),
        "offset": s.received_bytes if s.mode == resumable.PARTS else 0,
        "next_part": state.next_part,
        "expires_at": as_utc(s.expires_at).isoformat(),
    }


@router.get(
    "/evidence/{evidence_id}/download",
    summary="A short-lived presigned URL to download the file from object storage",
    openapi_extra=access.action_extra(actions.EVIDENCE_READ),
)
async def download(request: Request, principal: CurrentPrincipal, evidence_id: str) -> dict:
    ctx = _context(request)
    ttl = ctx.settings.evidence_presign_ttl_s
    url = await queries.download_link(ctx.uow, ctx.storage, principal, evidence_id, ttl_s=ttl)
    return {"url": url, "expires_in_s": ttl}


def _view(row: Evidence, principal=None) -> dict:
    view = {
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
        "item_id": row.item_id,
        "status": row.status,
        "review_reason": row.review_reason,
        "reviewed_by": row.reviewed_by,
        "reviewed_at": as_utc(row.reviewed_at).isoformat() if row.reviewed_at else None,
        "reuse_flagged": row.reuse_flagged,
        "upload_method": row.upload_method,
    }
    # Where else the same bytes were used is for the assessor and the Dinas, not the teacher
    # (it names other teachers' evidence).
    if principal is not None and principal.nip != row.teacher_nip:
        view["reuse_of"] = json.loads(row.reuse_of) if row.reuse_of else []
    return view
