"""After finalisation: corrections (new versions), the teacher's acknowledgement or objection
(keberatan) within the policy's window, and the Dinas' decision on an objection.

- A correction names the version it corrects; it must be the latest (a correction of a version
  that does not exist is refused, of an older one is stale) and must change the ratings.
- Correctors: the PPK of record or the Dinas of the region (who may is the access policy's
  ``assessment.assessment.correct``).
- The teacher responds once per version: acknowledges, or objects with a reason, until the end
  of the ``objection_window_days``-th day after the version was finalized (whole days in
  Asia/Jakarta) [design: 14 days by default, a policy setting].
- An objection is decided by the Dinas (the PPK's superior): DITOLAK (the version stands) or
  DITERIMA, which needs new ratings and produces a correction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from kinerja_shared.clock import batas_waktu, jakarta_date
from kinerja_shared.errors import AppError, Conflict, Forbidden, NotFound

from kinerja_assessment.domain.assessment import FINAL

PENDING, ACCEPTED, REJECTED = "diajukan", "diterima", "ditolak"
DECISIONS = {"DITERIMA": ACCEPTED, "DITOLAK": REJECTED}
ACKNOWLEDGED, OBJECTED = "diterima_guru", "keberatan"


def ensure_final(status: str) -> None:
    if status != FINAL:
        raise Conflict("penilaian_belum_final", "Penilaian belum final.", "The assessment is not final yet.")


def ensure_corrects_latest(corrects_version: object, current_version: int) -> int:
    if not isinstance(corrects_version, int) or isinstance(corrects_version, bool):
        raise AppError("versi_wajib_diisi", "Sebutkan versi penilaian yang dikoreksi (corrects_version).",
                       "corrects_version (an integer) is required.", status_code=422)
    if not 1 <= corrects_version <= current_version:
        raise NotFound(
            "versi_penilaian_tidak_ditemukan",
            f"Versi {corrects_version} penilaian ini tidak ada; versi terakhir adalah {current_version}.",
            f"Version {corrects_version} does not exist; the latest is {current_version}.",
            details={"corrects_version": corrects_version, "latest_version": current_version},
        )
    if corrects_version != current_version:
        raise Conflict(
            "versi_sudah_dikoreksi",
            f"Versi {corrects_version} sudah dikoreksi; koreksi versi terakhir ({current_version}).",
            f"Version {corrects_version} was already corrected; correct version {current_version}.",
            details={"corrects_version": corrects_version, "latest_version": current_version},
        )
    return corrects_version


def ensure_changes(old: tuple[str, str], new: tuple[str, str]) -> None:
    if old == new:
        raise AppError("koreksi_tanpa_perubahan", "Koreksi harus mengubah rating.",
                       "A correction must change the ratings.", status_code=422)


def objection_deadline(finalized_at: datetime, days: int) -> date:
    return jakarta_date(finalized_at) + timedelta(days=days)


def not_the_assessed_person() -> Forbidden:
    return Forbidden("bukan_pemilik_penilaian", "Hanya pegawai yang dinilai yang dapat menanggapi penilaian ini.",
                     "Only the assessed person may respond.")


def ensure_can_respond(
    *, status: str, responded_version: int | None, version: int, pending_objection: bool,
    finalized_at: datetime, window_days: int, now: datetime,
) -> None:
    ensure_final(status)
    if pending_objection:
        raise Conflict("keberatan_masih_diproses", "Keberatan Anda masih diproses Dinas.",
                       "Your objection is still being decided.")
    if responded_version == version:
        raise Conflict("sudah_ditanggapi", f"Penilaian versi {version} sudah Anda tanggapi.",
                       f"You already responded to version {version}.")
    last = objection_deadline(finalized_at, window_days)
    if jakarta_date(now) > last:
        raise Conflict(
            "batas_keberatan_terlewat",
            f"Batas waktu tanggapan atau keberatan adalah {batas_waktu(last)}; sudah terlewat.",
            f"The window to respond closed on {last.isoformat()} 23:59:59 WIB.",
            details={"deadline": last.isoformat()},
        )


def require_reason(reason: object, field_name: str = "reason") -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise AppError("alasan_wajib_diisi", "Alasan tertulis wajib diisi.", "A written reason is required.",
                       status_code=422, details={"field": field_name})
    return text[:4000]


def parse_decision(value: object) -> str:
    if value not in DECISIONS:
        raise AppError("keputusan_tidak_valid", "Keputusan harus DITERIMA atau DITOLAK.",
                       "decision must be DITERIMA or DITOLAK.", status_code=422)
    return DECISIONS[value]  # type: ignore[index]


def ensure_pending(status: str) -> None:
    if status != PENDING:
        raise Conflict("keberatan_sudah_diputuskan", "Keberatan ini sudah diputuskan.",
                       "This objection was already decided.")
