"""A final result mapped to the SIASN-like ``kinerjaperiodik/save`` payload: the one place.

Codes (BKN's SIASN): rating 1 Di Atas, 2 Sesuai, 3 Di Bawah; predikat (``kuadranKinerjaNilai``)
1 Sangat Baik, 2 Baik, 3 Butuh Perbaikan, 4 Kurang (Misconduct), 5 Sangat Kurang.

Two codes whose SIASN reference tables are not public, so this project fixes them here and the
e-Kinerja simulator accepts the same (replace them with SIASN's ids when known):

- ``koefisienId`` from the teacher's jenjang: the annual angka-kredit coefficient of
  PermenPANRB 1/2023 -> "1" Ahli Pertama (12.5), "2" Ahli Muda (25), "3" Ahli Madya (37.5),
  "4" Ahli Utama (50).
- ``periodikId`` from the length of the period: 1 bulanan and 2 triwulanan (SIASN),
  3 semesteran and 4 tahunan (this project's assumption).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

RATING_CODES = {"DI_ATAS": 1, "SESUAI": 2, "DI_BAWAH": 3}
PREDIKAT_CODES = {
    "SANGAT_BAIK": 1, "BAIK": 2, "BUTUH_PERBAIKAN": 3, "KURANG": 4, "SANGAT_KURANG": 5,
}
# PermenPANRB 6/2022: (hasil kerja, perilaku kerja) -> predikat.
PREDIKAT_MATRIX = {
    ("DI_ATAS", "DI_BAWAH"): "KURANG", ("DI_ATAS", "SESUAI"): "BAIK", ("DI_ATAS", "DI_ATAS"): "SANGAT_BAIK",
    ("SESUAI", "DI_BAWAH"): "KURANG", ("SESUAI", "SESUAI"): "BAIK", ("SESUAI", "DI_ATAS"): "BAIK",
    ("DI_BAWAH", "DI_BAWAH"): "SANGAT_KURANG", ("DI_BAWAH", "SESUAI"): "BUTUH_PERBAIKAN",
    ("DI_BAWAH", "DI_ATAS"): "BUTUH_PERBAIKAN",
}
KOEFISIEN_IDS = {"Ahli Pertama": "1", "Ahli Muda": "2", "Ahli Madya": "3", "Ahli Utama": "4"}
PERIODIK_IDS = {1: 1, 3: 2, 6: 3, 12: 4}  # months in the period -> periodikId


@dataclass(frozen=True)
class FinalResult:
    """What the sync needs of a finalized assessment (a snapshot, from the event)."""

    year: int
    month_start: int
    month_end: int
    rating_hasil_kerja: str
    rating_perilaku_kerja: str
    predikat: str
    predikat_code: int
    teacher_nip: str
    teacher_jenjang: str
    teacher_asn_status: str
    assessor_name: str
    assessor_nip: str
    assessor_golongan: str
    assessor_jabatan: str
    assessor_asn_status: str
    assessor_unit: str


class CannotMap(Exception):
    """The result cannot become a valid payload; no retry fixes it, someone must fix data."""

    def __init__(self, message: str, message_en: str, responsible_actor: str) -> None:
        super().__init__(message_en)
        self.message = message
        self.message_en = message_en
        self.responsible_actor = responsible_actor


def in_scope(result: FinalResult) -> bool:
    """Only ASN teachers (PNS, PPPK) are mirrored to e-Kinerja; non-ASN take part without sync."""
    return result.teacher_asn_status in ("PNS", "PPPK")


def to_kinerja_periodik(result: FinalResult) -> dict[str, Any]:
    hasil = _rating(result.rating_hasil_kerja)
    perilaku = _rating(result.rating_perilaku_kerja)
    expected = PREDIKAT_MATRIX[(result.rating_hasil_kerja, result.rating_perilaku_kerja)]
    if result.predikat != expected or PREDIKAT_CODES.get(result.predikat) != result.predikat_code:
        raise CannotMap(
            f"Predikat {result.predikat} (kode {result.predikat_code}) tidak sesuai matriks "
            f"PermenPANRB 6/2022 untuk rating {result.rating_hasil_kerja}/{result.rating_perilaku_kerja}",
            "Predikat does not match the PermenPANRB 6/2022 matrix for these ratings",
            "sistem",
        )
    koefisien = KOEFISIEN_IDS.get(result.teacher_jenjang.strip())
    if koefisien is None:
        raise CannotMap(
            f"Jenjang jabatan guru '{result.teacher_jenjang}' tidak dikenal; perbaiki data roster",
            f"Unknown jenjang '{result.teacher_jenjang}'; fix the roster",
            "operator_sekolah",
        )
    months = result.month_end - result.month_start + 1
    periodik = PERIODIK_IDS.get(months)
    if periodik is None or not 1 <= result.month_start <= result.month_end <= 12:
        raise CannotMap(
            f"Periode bulan {result.month_start}-{result.month_end} tidak dapat dikirim ke e-Kinerja",
            f"Period months {result.month_start}-{result.month_end} cannot be sent",
            "sistem",
        )
    if not result.assessor_nip or not result.assessor_name:
        raise CannotMap(
            "Data pejabat penilai (nama/NIP) kosong; perbaiki data roster",
            "The assessor's name or NIP is missing; fix the roster",
            "operator_sekolah",
        )
    return {
        "bulanMulaiPenilaian": result.month_start,
        "bulanSelesaiPenilaian": result.month_end,
        "tahunMulaiPenilaian": result.year,
        "tahunSelesaiPenilaian": result.year,
        "tahun": result.year,
        "hasilKinerjaNilai": hasil,
        "perilakuKerjaNilai": perilaku,
        "kuadranKinerjaNilai": result.predikat_code,
        "koefisienId": koefisien,
        "periodikId": periodik,
        "pnsDinilaiId": result.teacher_nip,
        "penilaiNama": result.assessor_name,
        "penilaiNipNrp": result.assessor_nip,
        "penilaiGolongan": result.assessor_golongan,
        "penilaiJabatanNama": result.assessor_jabatan,
        "penilaiUnorNama": result.assessor_unit,
        "statusPenilai": "NON ASN" if result.assessor_asn_status == "NON_ASN" else "ASN",
    }


def _rating(value: str) -> int:
    try:
        return RATING_CODES[value]
    except KeyError:
        raise CannotMap(f"Rating '{value}' tidak dikenal", f"Unknown rating '{value}'", "sistem") from None


SAME_RECORD_FIELDS = (
    "pnsDinilaiId", "tahun", "bulanMulaiPenilaian", "bulanSelesaiPenilaian",
    "hasilKinerjaNilai", "perilakuKerjaNilai", "kuadranKinerjaNilai",
)


def already_stored(history: list[dict[str, Any]], payload: dict[str, Any]) -> str | None:
    """The id of a record in e-Kinerja's history that already holds this payload (same NIP,
    period and codes), or None. Used after an ambiguous failure so a resend is no duplicate."""
    for record in history:
        if payload.get("id") and record.get("id") != payload["id"]:
            continue
        if all(record.get(f) == payload.get(f) for f in SAME_RECORD_FIELDS) and record.get("id"):
            return str(record["id"])
    return None


PERIOD_FIELDS = ("pnsDinilaiId", "tahun", "bulanMulaiPenilaian", "bulanSelesaiPenilaian")


def same_period_record(history: list[dict[str, Any]], payload: dict[str, Any]) -> str | None:
    """The id of a record e-Kinerja holds for the same NIP and period, whatever its values.
    A correction whose older version may have been stored (an ambiguous failure, never
    acknowledged) updates that record instead of adding a second one."""
    for record in history:
        if record.get("id") and all(record.get(f) == payload.get(f) for f in PERIOD_FIELDS):
            return str(record["id"])
    return None


# ---------------------------------------------------------------------------------------------
# Agreed plans (SKP) and periodic reviews: the same rules (codes, koefisien, penilai, statusPenilai)
# in two more SIASN-like payloads. e-Kinerja's endpoints for these are not public; the shapes below
# are this project's, in SIASN's naming style, and the e-Kinerja simulator accepts exactly them:
#
# - POST /rencanaskp/save (read: GET /pns/rw-rencanaskp/{nip}): the agreed plan, one record per
#   NIP and period; a later revision is an update of that record (``id``), ``revisi`` says which.
# - POST /evaluasiperiodik/save (read: GET /pns/rw-evaluasiperiodik/{nip}): one record per NIP
#   and review (monthly: ``periodikId`` 1, one month; quarterly: 2, three months).

JENIS_SKP = {"guru": "GURU", "kepala_sekolah": "KEPALA_SEKOLAH"}
# A monthly review "2025-03" or a quarterly one "2025-Q1".
_MONTHLY_REVIEW = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTERLY_REVIEW = re.compile(r"^(\d{4})-Q([1-4])$")
_TARGET_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class RosterPerson:
    """A person as planning's latest roster describes them (the read model of RosterImported)."""

    nip: str
    name: str
    jabatan: str
    jenjang: str
    golongan: str
    asn_status: str
    assessor_nip: str | None


@dataclass(frozen=True)
class PeriodInfo:
    """A period as planning opened it (the read model of PeriodOpened)."""

    period_id: str
    policy: str
    year: int
    month_start: int
    month_end: int


@dataclass(frozen=True)
class AgreedPlan:
    """What the sync needs of an agreed plan (a snapshot of PlanApproved). ``items`` and
    ``monthly_targets`` are dicts with the contract's fields (PlanItem, MonthlyTarget)."""

    plan_id: str
    revision: int
    period_id: str
    plan_kind: str
    policy: str
    teacher_nip: str
    school_npsn: str
    assessor_nip: str
    indicators: tuple[str, ...]
    items: tuple[dict[str, Any], ...]
    monthly_targets: tuple[dict[str, Any], ...]
    competency_points: int
    approved_on: str  # YYYY-MM-DD, Asia/Jakarta


@dataclass(frozen=True)
class RecordedReview:
    """What the sync needs of a periodic review (a snapshot of PeriodicReviewRecorded)."""

    assessment_id: str
    review: str
    teacher_nip: str
    school_npsn: str
    progress: str
    feedback: str
    reviewed_by: str
    reviewed_on: str  # YYYY-MM-DD, Asia/Jakarta


def review_months(review: str) -> tuple[int, int, int, int]:
    """(year, month_start, month_end, periodikId) of a review key: "2025-03" -> (2025, 3, 3, 1),
    "2025-Q2" -> (2025, 4, 6, 2). Anything else cannot be sent."""
    if m := _MONTHLY_REVIEW.match(review or ""):
        return int(m[1]), int(m[2]), int(m[2]), 1
    if m := _QUARTERLY_REVIEW.match(review or ""):
        quarter = int(m[2])
        return int(m[1]), 3 * quarter - 2, 3 * quarter, 2
    raise CannotMap(
        f"Peninjauan '{review}' bukan bulanan (TTTT-BB) atau triwulanan (TTTT-Qn)",
        f"Review '{review}' is neither monthly (YYYY-MM) nor quarterly (YYYY-Qn)",
        "sistem",
    )


def _penilai(assessor: RosterPerson | None, unit: str | None, missing_actor: str, who: str) -> dict[str, Any]:
    if assessor is None or not assessor.name.strip():
        raise CannotMap(
            f"Data pejabat penilai (NIP {who or '-'}) belum ada di roster; perbaiki data roster",
            f"The assessor (NIP {who or '-'}) is not in the roster; fix the roster",
            missing_actor,
        )
    if not (unit or "").strip():
        raise CannotMap(
            "Unit organisasi (nama sekolah) belum dikenal; impor roster sekolah",
            "The unit (the school's name) is not known; import the school's roster",
            "operator_sekolah",
        )
    return {
        "penilaiNama": assessor.name,
        "penilaiNipNrp": assessor.nip,
        "penilaiGolongan": assessor.golongan,
        "penilaiJabatanNama": assessor.jabatan,
        "penilaiUnorNama": unit,
        "statusPenilai": "NON ASN" if assessor.asn_status == "NON_ASN" else "ASN",
    }


def _teacher(teacher: RosterPerson | None, nip: str, npsn: str) -> RosterPerson:
    if teacher is None:
        raise CannotMap(
            f"Data guru NIP {nip} belum ada di roster sekolah {npsn}; impor ulang roster",
            f"Teacher NIP {nip} is not in the roster of school {npsn}; import the roster again",
            "operator_sekolah",
        )
    return teacher


def person_in_scope(person: RosterPerson | None) -> bool:
    """Unknown people are not out of scope: they are parked until the roster says who they are."""
    return person is None or person.asn_status in ("PNS", "PPPK")


def to_rencana_skp(
    plan: AgreedPlan, period: PeriodInfo | None, teacher: RosterPerson | None,
    assessor: RosterPerson | None, unit: str | None,
) -> dict[str, Any]:
    """The agreed plan as the SIASN-like ``rencanaskp/save`` payload."""
    if period is None:
        raise CannotMap(
            f"Periode {plan.period_id} belum diterima dari planning (PeriodOpened); menunggu",
            f"Period {plan.period_id} not received from planning yet (PeriodOpened)",
            "sistem",
        )
    person = _teacher(teacher, plan.teacher_nip, plan.school_npsn)
    koefisien = KOEFISIEN_IDS.get(person.jenjang.strip())
    if koefisien is None:
        raise CannotMap(
            f"Jenjang jabatan guru '{person.jenjang}' tidak dikenal; perbaiki data roster",
            f"Unknown jenjang '{person.jenjang}'; fix the roster",
            "operator_sekolah",
        )
    for name, value, label in (("jabatan", person.jabatan, "Jabatan"), ("golongan", person.golongan, "Golongan")):
        if not value.strip():
            raise CannotMap(
                f"{label} guru NIP {person.nip} kosong di roster; perbaiki data roster",
                f"The teacher's {name} is empty in the roster; fix the roster",
                "operator_sekolah",
            )
    jenis = JENIS_SKP.get(plan.plan_kind)
    if jenis is None:
        raise CannotMap(f"Jenis rencana '{plan.plan_kind}' tidak dikenal", f"Unknown plan kind '{plan.plan_kind}'",
                        "sistem")
    if not plan.items:
        raise CannotMap("SKP tanpa rencana hasil kerja tidak dapat dikirim", "A plan without items cannot be sent",
                        "sistem")
    codes = {item["item_id"]: item["code"] for item in plan.items}
    targets = []
    for target in plan.monthly_targets:
        m = _TARGET_MONTH.match(target["month"] or "")
        if not m or int(m[1]) != period.year or not period.month_start <= int(m[2]) <= period.month_end:
            raise CannotMap(
                f"Target bulanan '{target['month']}' di luar periode {period.year} bulan "
                f"{period.month_start}-{period.month_end}",
                f"Monthly target '{target['month']}' is outside the period",
                "sistem",
            )
        targets.append({"bulan": target["month"], "uraian": target["description"],
                        "kodeRencana": codes.get(target.get("item_id") or "")})
    # A principal's plan is agreed by their pengawas, whom the dinas assigns.
    missing_assessor = "operator_dinas" if plan.plan_kind == "kepala_sekolah" else "operator_sekolah"
    return {
        "pnsDinilaiId": person.nip,
        "pnsDinilaiNama": person.name,
        "pnsDinilaiJabatanNama": person.jabatan,
        "pnsDinilaiGolongan": person.golongan,
        "pnsDinilaiUnorNama": unit or "",
        "jenisSkp": jenis,
        "koefisienId": koefisien,
        "tahun": period.year,
        "bulanMulaiPenilaian": period.month_start,
        "bulanSelesaiPenilaian": period.month_end,
        **_penilai(assessor, unit, missing_assessor, plan.assessor_nip),
        "indikatorRaporPendidikan": list(plan.indicators),
        "rencanaHasilKerja": [
            {"jenis": item["kind"], "kode": item["code"], "uraian": item["title"], "poin": item.get("points", 0),
             "perilakuFokus": list(item.get("focus_behaviours") or [])}
            for item in plan.items
        ],
        "targetBulanan": targets,
        "poinPengembanganKompetensi": plan.competency_points,
        "revisi": plan.revision,
        "tanggalDisepakati": plan.approved_on,
    }


def to_evaluasi_periodik(
    review: RecordedReview, teacher: RosterPerson | None, assessor: RosterPerson | None, unit: str | None,
) -> dict[str, Any]:
    """A periodic review as the SIASN-like ``evaluasiperiodik/save`` payload."""
    year, month_start, month_end, periodik = review_months(review.review)
    person = _teacher(teacher, review.teacher_nip, review.school_npsn)
    return {
        "pnsDinilaiId": person.nip,
        "tahun": year,
        "bulanMulaiPenilaian": month_start,
        "bulanSelesaiPenilaian": month_end,
        "periodikId": periodik,
        "hasilKinerjaNilai": _rating(review.progress),
        "umpanBalik": review.feedback,
        "tanggalEvaluasi": review.reviewed_on,
        **_penilai(assessor, unit, "operator_sekolah", review.reviewed_by),
    }


# What identifies a record of each kind in e-Kinerja's history (one per NIP and period, or per
# NIP and review), and what says that it holds exactly this payload (read before a re-send).
SKP_PERIOD_FIELDS = ("pnsDinilaiId", "tahun", "bulanMulaiPenilaian", "bulanSelesaiPenilaian")
SKP_SAME_RECORD_FIELDS = (*SKP_PERIOD_FIELDS, "revisi")
REVIEW_PERIOD_FIELDS = ("pnsDinilaiId", "tahun", "bulanMulaiPenilaian", "bulanSelesaiPenilaian", "periodikId")
REVIEW_SAME_RECORD_FIELDS = (*REVIEW_PERIOD_FIELDS, "hasilKinerjaNilai", "umpanBalik", "tanggalEvaluasi")


def stored_with(history: list[dict[str, Any]], payload: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    """The id of a record in e-Kinerja's history holding these fields of the payload (the one
    the payload updates, when it carries an ``id``), or None."""
    for record in history:
        if not isinstance(record, dict) or not record.get("id"):
            continue
        if payload.get("id") and record.get("id") != payload["id"]:
            continue
        if all(record.get(f) == payload.get(f) for f in fields):
            return str(record["id"])
    return None


def skp_already_stored(history: list[dict[str, Any]], payload: dict[str, Any]) -> str | None:
    return stored_with(history, payload, SKP_SAME_RECORD_FIELDS)


def skp_same_period_record(history: list[dict[str, Any]], payload: dict[str, Any]) -> str | None:
    return stored_with(history, {k: v for k, v in payload.items() if k != "id"}, SKP_PERIOD_FIELDS)


def review_already_stored(history: list[dict[str, Any]], payload: dict[str, Any]) -> str | None:
    return stored_with(history, payload, REVIEW_SAME_RECORD_FIELDS)


def review_same_period_record(history: list[dict[str, Any]], payload: dict[str, Any]) -> str | None:
    return stored_with(history, {k: v for k, v in payload.items() if k != "id"}, REVIEW_PERIOD_FIELDS)
