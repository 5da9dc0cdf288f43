"""The evidence context's rules: which plan state wins, which plans take bukti, the errors.
Who may do what is the shared access policy (service_layer/access_checks.py)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

from kinerja_shared.errors import AppError, Conflict, DependencyUnavailable, Forbidden, NotFound

# Plan statuses as this context knows them (from planning's events).
SUBMITTED = "submitted"
APPROVED = "approved"  # "disepakati": only then may bukti dukung be uploaded
RETURNED = "returned"

# Evidence review states.
EVIDENCE_SUBMITTED = "submitted"
EVIDENCE_VERIFIED = "verified"
EVIDENCE_REJECTED = "rejected"

JAKARTA = ZoneInfo("Asia/Jakarta")


def today_in_jakarta(now: datetime | None = None) -> date:
    """Stage windows are dates in Asia/Jakarta (a day ends at midnight WIB, not UTC)."""
    return (now or datetime.now(timezone.utc)).astimezone(JAKARTA).date()


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
    npsn: str | None
    region: str | None


class PlanFacts(Protocol):
    plan_id: str
    teacher_nip: str
    school_npsn: str
    assessor_nip: str | None
    region: str
    status: str


class PeriodFacts(Protocol):
    period_id: str
    execution_starts_on: date | None
    execution_ends_on: date | None
    closed_at: datetime | None


def check_execution_window(period: PeriodFacts | None, today: date) -> None:
    """Evidence belongs to the pelaksanaan stage. A period planning has not described yet (or
    described without stages, as producers before stages did) sets no window."""
    if period is None:
        return
    if period.closed_at is not None:
        raise ExecutionWindowClosed(period.execution_starts_on, period.execution_ends_on, closed=True)
    start, end = period.execution_starts_on, period.execution_ends_on
    if start is None or end is None:
        return
    if not start <= today <= end:
        raise ExecutionWindowClosed(start, end)


def parts_for(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def expected_part_size(size: int, part_size: int, part_number: int) -> int:
    """Every part but the last is exactly ``part_size``; the last holds the rest."""
    total = parts_for(size, part_size)
    if part_number < total:
        return part_size
    return size - part_size * (total - 1)


def check_plan_approved(plan: PlanFacts | None) -> None:
    """Bukti dukung, reports and records attach only to an agreed plan (its owner alone, says
    the access policy)."""
    if plan is None or plan.status != APPROVED:
        raise PlanNotApproved()


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


STORAGE_RETRY_AFTER_S = 5


class StorageUnavailable(DependencyUnavailable):
    """The object store does not answer (refused, timed out, 5xx): nothing is wrong with the
    request, the client should try again shortly (503 ``penyimpanan_berkas_tidak_tersedia``
    with Retry-After, rendered by the shared handler)."""

    def __init__(self) -> None:
        super().__init__("object_storage", retry_after_s=STORAGE_RETRY_AFTER_S)


class StoredFileMissing(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "berkas_tidak_ada_di_penyimpanan",
            "Berkas bukti dukung ini tidak ada lagi di penyimpanan. Silakan unggah ulang.",
            "The evidence's file is no longer in object storage; upload it again.",
        )


class EmptyFile(AppError):
    def __init__(self) -> None:
        super().__init__(
            "berkas_kosong", "Berkas yang diunggah kosong.", "The uploaded file is empty.",
            status_code=422,
        )


class FileTooLarge(AppError):
    def __init__(self, limit: int, content_type: str | None = None) -> None:
        kind = f" untuk {content_type}" if content_type else ""
        super().__init__(
            "berkas_terlalu_besar",
            f"Berkas melebihi batas ukuran{kind} {_human(limit)}.",
            f"The file exceeds the size limit of {limit} bytes.",
            status_code=413,
            details={"max_bytes": limit, **({"content_type": content_type} if content_type else {})},
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


class ContentMismatch(AppError):
    def __init__(self, detected: str, declared: str, reason: str) -> None:
        super().__init__(
            "jenis_berkas_tidak_sesuai",
            f"Jenis berkas tidak sesuai dengan yang dinyatakan: {reason}.",
            f"The content ({detected}) does not match the declared type ({declared}).",
            status_code=415,
            details={"detected": detected, "declared": declared},
        )


class DamagedContent(AppError):
    def __init__(self, detected: str, reason: str) -> None:
        super().__init__(
            "isi_berkas_tidak_valid",
            f"Isi berkas ditolak: {reason}.",
            f"The file's content is refused: {reason}.",
            status_code=422,
            details={"detected": detected, "reason": reason},
        )


class ExecutionWindowClosed(Conflict):
    def __init__(self, start: date | None, end: date | None, *, closed: bool = False) -> None:
        window = f"{start} s.d. {end}" if start and end else "-"
        super().__init__(
            "masa_pelaksanaan_ditutup",
            "Periode sudah ditutup: bukti tidak dapat ditambahkan." if closed else
            f"Di luar masa pelaksanaan ({window}): bukti tidak dapat ditambahkan.",
            "The period's execution window is not open.",
            details={"execution_starts_on": str(start) if start else None,
                     "execution_ends_on": str(end) if end else None, "closed": closed},
        )


class PlanItemNotFound(AppError):
    def __init__(self, item_id: str) -> None:
        super().__init__(
            "butir_rencana_tidak_ditemukan",
            "Butir rencana tidak ada pada rencana kinerja yang disepakati.",
            "The plan item is not part of the agreed plan.",
            status_code=422,
            details={"item_id": item_id},
        )


class DuplicateEvidence(Conflict):
    def __init__(self, evidence_id: str) -> None:
        super().__init__(
            "bukti_duplikat",
            "Berkas yang sama sudah diunggah untuk butir ini.",
            "The same file is already evidence for this item.",
            details={"evidence_id": evidence_id},
        )


class EvidenceReadOnly(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "penilaian_sudah_final",
            "Penilaian periode ini sudah final: bukti dukungnya tidak dapat diubah lagi.",
            "The period's assessment is final: its evidence is read-only.",
        )


class NotAssessor(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "bukan_penilai",
            "Hanya pejabat penilai kinerja guru ini yang dapat memverifikasi buktinya.",
            "Only this teacher's assessor may review the evidence.",
        )


class ReasonRequired(AppError):
    def __init__(self) -> None:
        super().__init__(
            "alasan_wajib_diisi", "Alasan penolakan wajib diisi.", "A reason is required.",
            status_code=422,
        )


class UploadTooSlow(AppError):
    """The upload's object was written longer ago than the pending-object age and the sweep
    has taken it back: nothing is recorded; the client sends the file again."""

    def __init__(self) -> None:
        super().__init__(
            "unggahan_terlalu_lama",
            "Unggahan memakan waktu terlalu lama dan berkasnya sudah dibersihkan; kirim ulang berkas.",
            "The upload took too long and its stored file was cleaned up; send the file again.",
            status_code=408,
        )


# ---------------------------------------------------------------- resumable uploads


class UploadNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "unggahan_tidak_ditemukan",
            "Sesi unggahan tidak ditemukan (mungkin sudah kedaluwarsa dan dibersihkan).",
            "Upload session not found (it may have expired and been cleaned up).",
        )


class UploadOfSomeoneElse(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "akses_ditolak",
            "Sesi unggahan ini milik pengguna lain.",
            "This upload session belongs to someone else.",
        )


class UploadNotOpen(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(
            "unggahan_sudah_selesai",
            "Sesi unggahan sudah selesai: tidak dapat menerima bagian lagi.",
            "The upload session is no longer open.",
            details={"status": status},
        )


class PartOutOfOrder(Conflict):
    def __init__(self, expected: int, got: int) -> None:
        super().__init__(
            "bagian_tidak_berurutan",
            f"Bagian {got} dikirim tidak berurutan: server menunggu bagian {expected}.",
            f"Part {got} is out of order: part {expected} is expected next.",
            details={"expected_part": expected, "part": got},
        )


class PartSizeWrong(AppError):
    def __init__(self, expected: int, got: int) -> None:
        super().__init__(
            "ukuran_bagian_salah",
            f"Ukuran bagian salah: seharusnya {expected} byte, diterima {got} byte.",
            f"Wrong part size: expected {expected} bytes, received {got}.",
            status_code=422,
            details={"expected_bytes": expected, "received_bytes": got},
        )


class PartChecksumMismatch(AppError):
    def __init__(self, declared: str, computed: str) -> None:
        super().__init__(
            "checksum_bagian_salah",
            "Checksum SHA-256 bagian tidak cocok: bagian rusak di perjalanan, kirim ulang.",
            "The part's SHA-256 does not match: it was damaged in transit, send it again.",
            status_code=422,
            details={"declared": declared, "computed": computed},
        )


class FileChecksumMismatch(AppError):
    def __init__(self, declared: str, computed: str) -> None:
        super().__init__(
            "checksum_berkas_salah",
            "Checksum SHA-256 berkas tidak cocok dengan yang dinyatakan.",
            "The file's SHA-256 does not match the declared one.",
            status_code=422,
            details={"declared": declared, "computed": computed},
        )


class UploadIncomplete(Conflict):
    def __init__(self, received: int, total: int, detail: str = "") -> None:
        super().__init__(
            "unggahan_belum_lengkap",
            f"Unggahan belum lengkap: {received} dari {total} bagian diterima{detail}.",
            "The upload is not complete.",
            details={"parts_received": received, "parts_total": total},
        )


class TooManyOpenUploads(Conflict):
    def __init__(self, max_open: int, open_now: int) -> None:
        super().__init__(
            "unggahan_terbuka_terlalu_banyak",
            f"Masih ada {open_now} unggahan yang belum selesai (paling banyak {max_open}). "
            "Selesaikan atau batalkan salah satunya terlebih dahulu.",
            f"{open_now} uploads are still open (at most {max_open}); complete or abort one first.",
            details={"max_open": max_open, "open": open_now},
        )


def _human(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB" if size >= 1024 * 1024 else f"{size} byte"


def invalid_input(problem: str, field_name: str | None = None, problem_en: str = "") -> AppError:
    """The same shape as the shared 422 for invalid bodies."""
    return AppError(
        "input_tidak_valid",
        "Data yang dikirim tidak valid.",
        "The request body or parameters are invalid." + (f" {problem_en}" if problem_en else ""),
        status_code=422,
        details=[{"field": f"body.{field_name}" if field_name else "body", "problem": problem}],
    )


# ---------------------------------------------------------------- daily reports, competency

REPORT_SUBMITTED = "submitted"
REPORT_ACCEPTED = "accepted"
REPORT_NEEDS_FIX = "needs_fix"
ACTIVITY_TYPES = ("pelatihan", "belajar_mandiri", "komunitas_belajar", "lainnya")


def check_report_date(report_date: date, today: date, period: PeriodFacts | None,
                      period_start: date | None, period_end: date | None, target_month: str) -> None:
    """A daily report is about a day that has happened, inside the period, in the month of the
    target it is logged against."""
    if report_date > today:
        raise ReportDateInvalid("tanggal laporan tidak boleh di masa depan", report_date)
    if period_start and period_end and not period_start <= report_date <= period_end:
        raise ReportDateInvalid(f"tanggal laporan di luar periode ({period_start} s.d. {period_end})", report_date)
    if report_date.strftime("%Y-%m") != target_month:
        raise ReportDateInvalid(f"tanggal laporan tidak berada di bulan target ({target_month})", report_date)


def check_points(points: int, max_per_activity: int | None) -> None:
    if points <= 0:
        raise invalid_input("harus lebih dari 0", "points", "points must be positive.")
    if max_per_activity is not None and points > max_per_activity:
        raise PointsAboveBound(points, max_per_activity)


class ReportDateInvalid(AppError):
    def __init__(self, reason: str, report_date: date) -> None:
        super().__init__(
            "tanggal_laporan_tidak_valid",
            f"Laporan harian ditolak: {reason}.",
            "The daily report's date is not allowed.",
            status_code=422,
            details={"report_date": str(report_date), "reason": reason},
        )


class TargetNotFound(AppError):
    def __init__(self, target_id: str) -> None:
        super().__init__(
            "target_bulanan_tidak_ditemukan",
            "Target bulanan tidak ada pada rencana kinerja yang disepakati.",
            "The monthly target is not part of the agreed plan.",
            status_code=422,
            details={"target_id": target_id},
        )


class PointsAboveBound(AppError):
    def __init__(self, points: int, bound: int) -> None:
        super().__init__(
            "poin_melebihi_batas",
            f"Poin kegiatan ({points}) melebihi batas kebijakan per kegiatan ({bound}).",
            f"Points ({points}) exceed the policy's bound per activity ({bound}).",
            status_code=422,
            details={"points": points, "max_per_activity": bound},
        )


class EvidenceNotOwnedForPlan(AppError):
    def __init__(self, evidence_id: str) -> None:
        super().__init__(
            "bukti_tidak_sesuai",
            "Berkas bukti harus bukti dukung Anda sendiri pada rencana yang sama.",
            "The evidence must be your own, on the same plan.",
            status_code=422,
            details={"evidence_id": evidence_id},
        )


class RecordNotFound(NotFound):
    def __init__(self, what: str = "Catatan") -> None:
        super().__init__(
            "catatan_tidak_ditemukan", f"{what} tidak ditemukan.", "Record not found.",
        )


class NoteRequired(AppError):
    def __init__(self) -> None:
        super().__init__(
            "catatan_wajib_diisi", "Catatan perbaikan wajib diisi.", "A note is required.",
            status_code=422,
        )


class EvidenceInUse(Conflict):
    def __init__(self, used_by: list[str]) -> None:
        super().__init__(
            "bukti_masih_dipakai",
            "Bukti ini masih menjadi bukti catatan pengembangan kompetensi atau laporan harian: "
            "ubah atau hapus catatan itu lebih dulu.",
            "The evidence still proves a competency record or a daily report.",
            details={"used_by": used_by},
        )
