"""The assessment of one teacher (or principal) for one period:
open -> (ratings, changeable, each with a written reason) -> final (version 1) -> corrections
(version 2, 3, ...). A final version is never edited: a correction is a new version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kinerja_shared.errors import AppError, Conflict, Forbidden

from kinerja_assessment.domain.predikat import Predikat, Rating, parse_rating, predikat_for

OPEN = "open"
FINAL = "final"
STATUS_LABELS = {OPEN: "Berjalan", FINAL: "Final"}

# BerAKHLAK, the seven core values rating perilaku kerja is judged against.
BERAKHLAK = {
    "berorientasi_pelayanan": "Berorientasi Pelayanan",
    "akuntabel": "Akuntabel",
    "kompeten": "Kompeten",
    "harmonis": "Harmonis",
    "loyal": "Loyal",
    "adaptif": "Adaptif",
    "kolaboratif": "Kolaboratif",
}


@dataclass
class Ratings:
    hasil_kerja: Rating
    perilaku_kerja: Rating

    @property
    def predikat(self) -> Predikat:
        return predikat_for(self.hasil_kerja, self.perilaku_kerja)


@dataclass
class RatingInput:
    """What the PPK records: both ratings with reasons; optionally one rating (with reason) per
    BerAKHLAK value, from which the PPK still decides the overall perilaku kerja (holistic)."""

    hasil_kerja: Rating
    perilaku_kerja: Rating
    reason: str
    reason_hasil_kerja: str
    reason_perilaku_kerja: str
    per_value: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def predikat(self) -> Predikat:
        return predikat_for(self.hasil_kerja, self.perilaku_kerja)


def _reason_missing(field_name: str, message: str) -> AppError:
    return AppError(
        "alasan_wajib_diisi", message, f"A written reason is required ({field_name}).",
        status_code=422, details={"field": field_name},
    )


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_rating_input(
    rating_hasil_kerja: object, rating_perilaku_kerja: object, reason: object,
    reason_hasil_kerja: object = None, reason_perilaku_kerja: object = None, per_value: object = None,
) -> RatingInput:
    hasil = parse_rating(rating_hasil_kerja, "rating_hasil_kerja")
    perilaku = parse_rating(rating_perilaku_kerja, "rating_perilaku_kerja")
    general = _text(reason)
    r_hasil = _text(reason_hasil_kerja) or general
    r_perilaku = _text(reason_perilaku_kerja) or general
    if not r_hasil:
        raise _reason_missing("reason", "Alasan tertulis rating hasil kerja wajib diisi.")
    if not r_perilaku:
        raise _reason_missing("reason", "Alasan tertulis rating perilaku kerja wajib diisi.")
    values: dict[str, dict[str, str]] = {}
    if per_value not in (None, {}):
        if not isinstance(per_value, dict):
            raise AppError("input_tidak_valid", "perilaku_per_nilai harus berupa objek.",
                           "perilaku_per_nilai must be an object.", status_code=422)
        unknown = sorted(set(per_value) - set(BERAKHLAK))
        missing = sorted(set(BERAKHLAK) - set(per_value))
        if unknown or missing:
            raise AppError(
                "perilaku_per_nilai_tidak_lengkap",
                "Rating per nilai BerAKHLAK harus mencakup ketujuh nilai: " + ", ".join(BERAKHLAK.values()) + ".",
                "Per-value ratings must cover exactly the seven BerAKHLAK values.",
                status_code=422, details={"unknown": unknown, "missing": missing},
            )
        for key in BERAKHLAK:
            entry = per_value[key] if isinstance(per_value[key], dict) else {}
            rating = parse_rating(entry.get("rating"), f"perilaku_per_nilai.{key}.rating")
            text = _text(entry.get("reason"))
            if not text:
                raise _reason_missing(f"perilaku_per_nilai.{key}.reason",
                                      f"Alasan tertulis untuk nilai {BERAKHLAK[key]} wajib diisi.")
            values[key] = {"rating": rating.value, "reason": text[:2000]}
    return RatingInput(hasil, perilaku, general or r_hasil, r_hasil, r_perilaku, values)


def not_the_assessor() -> Forbidden:
    """Only the Pejabat Penilai Kinerja of record assesses (the access policy decides who that
    is; this is the answer to anyone else)."""
    return Forbidden(
        "bukan_penilai",
        "Anda bukan Pejabat Penilai Kinerja untuk guru ini.",
        "You are not this teacher's assessor.",
    )


def ensure_open(status: str) -> None:
    if status == FINAL:
        raise Conflict(
            "penilaian_sudah_final",
            "Penilaian sudah final dan tidak dapat diubah; gunakan koreksi.",
            "The assessment is final and cannot be changed; file a correction.",
        )


def ratings_to_finalize(hasil_kerja: str | None, perilaku_kerja: str | None) -> Ratings:
    if hasil_kerja is None or perilaku_kerja is None:
        raise Conflict(
            "rating_belum_lengkap",
            "Rating hasil kerja dan rating perilaku kerja harus diisi sebelum finalisasi.",
            "Both ratings are needed before finalising.",
        )
    return Ratings(Rating(hasil_kerja), Rating(perilaku_kerja))
