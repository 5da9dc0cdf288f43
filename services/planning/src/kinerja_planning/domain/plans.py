"""A teacher's plan (SKP) and its approval: the state machine.

    submitted --approve--> approved ("disepakati")
    submitted --return---> returned ("dikembalikan", with a reason)
    returned  --resubmit-> submitted (revision + 1)

An approved plan is final in this thin path. Every transition is recorded in the history
(who, when, why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kinerja_shared.errors import AppError, Conflict, Forbidden

SUBMITTED, APPROVED, RETURNED = "submitted", "approved", "returned"
STATUS_LABELS = {SUBMITTED: "Diajukan", APPROVED: "Disepakati", RETURNED: "Dikembalikan"}

# Rapor Pendidikan indicators a plan may take as its Praktik Kinerja focus (domain.md).
INDICATORS = {
    "A.1": "Kemampuan Literasi",
    "A.2": "Kemampuan Numerasi",
    "A.3": "Karakter",
    "C.3": "Pengalaman Pelatihan PTK",
    "D.1": "Kualitas Pembelajaran",
    "D.2": "Refleksi dan perbaikan pembelajaran oleh guru",
    "D.3": "Kepemimpinan Instruksional",
    "D.4": "Iklim Keamanan Satuan Pendidikan",
    "D.6": "Iklim Kesetaraan Gender",
    "D.8": "Iklim Kebinekaan",
    "D.10": "Iklim Inklusivitas",
}
SUMMARY_MAX_CHARS = 5000


@dataclass(frozen=True)
class HistoryEntry:
    action: str  # submitted, approved, returned, resubmitted
    by: str
    at: datetime
    reason: str | None = None


def clean_indicators(indicators: list[str]) -> list[str]:
    """The chosen indicators, trimmed, without repeats, in the order given."""
    chosen = list(dict.fromkeys(i.strip() for i in indicators if i and i.strip()))
    if not chosen:
        raise AppError(
            "indikator_wajib_diisi",
            "Pilih minimal satu indikator Rapor Pendidikan.",
            "Choose at least one Rapor Pendidikan indicator.",
            status_code=422,
        )
    unknown = [i for i in chosen if i not in INDICATORS]
    if unknown:
        raise AppError(
            "indikator_tidak_dikenal",
            f"Indikator tidak dikenal: {', '.join(unknown)}. Yang tersedia: {', '.join(INDICATORS)}.",
            f"Unknown indicators: {', '.join(unknown)}.",
            status_code=422,
            details={"unknown": unknown, "known": list(INDICATORS)},
        )
    return chosen


def clean_summary(summary: str | None) -> str:
    summary = (summary or "").strip()
    if len(summary) > SUMMARY_MAX_CHARS:
        raise AppError(
            "ringkasan_terlalu_panjang",
            f"Rangkuman paling banyak {SUMMARY_MAX_CHARS} karakter.",
            f"The summary is limited to {SUMMARY_MAX_CHARS} characters.",
            status_code=422,
        )
    return summary


def _wrong_status(status: str, action: str) -> Conflict:
    return Conflict(
        "status_rencana_tidak_sesuai",
        f"Rencana berstatus '{STATUS_LABELS.get(status, status)}' tidak dapat {action}.",
        f"A plan in status '{status}' cannot be {action}.",
        details={"status": status},
    )


@dataclass
class Plan:
    plan_id: str
    period_id: str
    teacher_nip: str
    teacher_name: str
    school_npsn: str
    region_code: str
    assessor_nip: str
    indicators: list[str]
    summary: str
    status: str = SUBMITTED
    revision: int = 1
    return_reason: str | None = None
    history: list[HistoryEntry] = field(default_factory=list)

    @classmethod
    def submit(
        cls, *, plan_id: str, period_id: str, teacher_nip: str, teacher_name: str,
        school_npsn: str, region_code: str, assessor_nip: str, indicators: list[str],
        summary: str | None, at: datetime,
    ) -> Plan:
        return cls(
            plan_id=plan_id, period_id=period_id, teacher_nip=teacher_nip,
            teacher_name=teacher_name, school_npsn=school_npsn, region_code=region_code,
            assessor_nip=assessor_nip, indicators=clean_indicators(indicators),
            summary=clean_summary(summary),
            history=[HistoryEntry("submitted", teacher_nip, at)],
        )

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def last_change_at(self) -> datetime:
        return self.history[-1].at

    # ------------------------------------------------------------ who may act
    def ensure_owner(self, nip: str | None) -> None:
        if nip != self.teacher_nip:
            raise Forbidden(
                "akses_ditolak",
                "Rencana ini milik guru lain.",
                "This plan belongs to another teacher.",
            )

    def ensure_assessor(self, nip: str | None) -> None:
        if nip != self.assessor_nip:
            raise Forbidden(
                "bukan_penilai",
                "Hanya pejabat penilai guru ini yang dapat menyetujui atau mengembalikan rencananya.",
                "Only this teacher's assessor may approve or return the plan.",
            )

    # ------------------------------------------------------------ transitions
    def resubmit(self, *, by: str, indicators: list[str], summary: str | None, at: datetime) -> None:
        self.ensure_owner(by)
        if self.status != RETURNED:
            raise _wrong_status(self.status, "diajukan ulang")
        self.indicators = clean_indicators(indicators)
        self.summary = clean_summary(summary)
        self.status = SUBMITTED
        self.revision += 1
        self.return_reason = None
        self.history.append(HistoryEntry("resubmitted", by, at))

    def approve(self, *, by: str, at: datetime) -> None:
        self.ensure_assessor(by)
        if self.status != SUBMITTED:
            raise _wrong_status(self.status, "disepakati")
        self.status = APPROVED
        self.history.append(HistoryEntry("approved", by, at))

    def return_for_revision(self, *, by: str, reason: str | None, at: datetime) -> None:
        self.ensure_assessor(by)
        reason = (reason or "").strip()
        if not reason:
            raise AppError(
                "alasan_wajib_diisi",
                "Tuliskan alasan mengapa rencana dikembalikan.",
                "A reason is required to return a plan.",
                status_code=422,
            )
        if self.status != SUBMITTED:
            raise _wrong_status(self.status, "dikembalikan")
        self.status = RETURNED
        self.return_reason = reason
        self.history.append(HistoryEntry("returned", by, at, reason))
