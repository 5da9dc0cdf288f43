"""The evidence context's rules: which plan state wins, who may upload and read, the errors."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol

from kinerja_shared.errors import AppError, Conflict, Forbidden, NotFound

# Plan statuses as this context knows them (from planning's events).
SUBMITTED = "submitted"
APPROVED = "approved"  # "disepakati": only then may bukti dukung be uploaded
RETURNED = "returned"

DINAS_ROLES = ("dinas", "operator_dinas", "sistem")


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def plan_event_is_newer(
    current_revision: int, current_at: datetime, revision: int, occurred_at: datetime
) -> bool:
    """Events may arrive late or twice: the one with the higher revision wins, and within a
    revision the one that happened later (submitted, then approved or returned)."""
    return (revision, as_utc(occurred_at)) > (current_revision, as_utc(current_at))


class Caller(Protocol):
    role: str
    nip: str | None
    region: str | None


class PlanFacts(Protocol):
    plan_id: str
    teacher_nip: str
    assessor_nip: str | None
    region: str
    status: str


def check_may_upload(caller: Caller, plan: PlanFacts | None) -> None:
    """Only the owner of an agreed plan uploads its bukti dukung."""
    if plan is None or plan.status != APPROVED:
        raise PlanNotApproved()
    if not caller.nip or caller.nip != plan.teacher_nip:
        raise AccessDenied()


def may_read(caller: Caller, plan: PlanFacts) -> bool:
    """The owner, the plan's assessor (PPK) and dinas users of the plan's region."""
    if caller.nip and caller.nip == plan.teacher_nip:
        return True
    if caller.role in ("kepala_sekolah", "pengawas") and caller.nip and caller.nip == plan.assessor_nip:
        return True
    if caller.role in DINAS_ROLES:
        # A dinas token scoped to a district or province sees only that slice.
        scope = caller.region
        return (
            not scope
            or scope == plan.region
            or (scope.endswith("0000") and plan.region.startswith(scope[:2]))
        )
    return False


class PlanNotApproved(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "rencana_belum_disepakati",
            "Rencana kinerja belum disepakati: bukti dukung hanya dapat diunggah untuk rencana "
            "yang sudah disetujui penilai.",
            "The performance plan is not approved: evidence can only be uploaded for an agreed plan.",
        )


class AccessDenied(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "akses_ditolak",
            "Anda tidak berhak mengakses bukti dukung rencana ini.",
            "You may not access the evidence of this plan.",
        )


class PlanNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "rencana_tidak_ditemukan",
            "Rencana kinerja tidak ditemukan.",
            "Performance plan not found.",
        )


class EvidenceNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "bukti_tidak_ditemukan", "Bukti dukung tidak ditemukan.", "Evidence not found."
        )


class EmptyFile(AppError):
    def __init__(self) -> None:
        super().__init__(
            "berkas_kosong", "Berkas yang diunggah kosong.", "The uploaded file is empty.",
            status_code=422,
        )


class FileTooLarge(AppError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            "berkas_terlalu_besar",
            f"Berkas melebihi batas ukuran {_human(limit)}.",
            f"The file exceeds the size limit of {limit} bytes.",
            status_code=413,
            details={"max_bytes": limit},
        )


class UnsupportedContent(AppError):
    def __init__(self, detected: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            "jenis_berkas_tidak_didukung",
            f"Jenis berkas tidak didukung (terdeteksi: {detected}). Unggah PDF, JPEG, PNG, "
            "DOCX, XLSX, PPTX atau MP4.",
            f"Unsupported file type (detected: {detected}).",
            status_code=415,
            details={"detected": detected, "allowed": list(allowed)},
        )


def _human(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB" if size >= 1024 * 1024 else f"{size} byte"
