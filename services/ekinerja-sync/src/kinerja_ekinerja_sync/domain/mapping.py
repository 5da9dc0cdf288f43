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
