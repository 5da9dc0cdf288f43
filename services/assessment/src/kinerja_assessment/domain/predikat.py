"""Rating and predikat kinerja: the PermenPANRB 6/2022 matrix, with the codes BKN's SIASN uses.

Rows are rating hasil kerja, columns rating perilaku kerja:

    hasil \\ perilaku | Di Bawah          | Sesuai          | Di Atas
    Di Atas          | Kurang/Misconduct | Baik            | Sangat Baik
    Sesuai           | Kurang/Misconduct | Baik            | Baik
    Di Bawah         | Sangat Kurang     | Butuh Perbaikan | Butuh Perbaikan
"""

from __future__ import annotations

from enum import Enum

from kinerja_shared.errors import AppError


class Rating(str, Enum):
    DI_ATAS = "DI_ATAS"
    SESUAI = "SESUAI"
    DI_BAWAH = "DI_BAWAH"

    @property
    def label(self) -> str:
        return RATING_LABELS[self]

    @property
    def siasn_code(self) -> int:
        return RATING_CODES[self]


class Predikat(str, Enum):
    SANGAT_BAIK = "SANGAT_BAIK"
    BAIK = "BAIK"
    BUTUH_PERBAIKAN = "BUTUH_PERBAIKAN"
    KURANG = "KURANG"
    SANGAT_KURANG = "SANGAT_KURANG"

    @property
    def label(self) -> str:
        return PREDIKAT_LABELS[self]

    @property
    def siasn_code(self) -> int:
        return PREDIKAT_CODES[self]


RATING_LABELS = {
    Rating.DI_ATAS: "Di Atas Ekspektasi",
    Rating.SESUAI: "Sesuai Ekspektasi",
    Rating.DI_BAWAH: "Di Bawah Ekspektasi",
}
RATING_CODES = {Rating.DI_ATAS: 1, Rating.SESUAI: 2, Rating.DI_BAWAH: 3}

PREDIKAT_LABELS = {
    Predikat.SANGAT_BAIK: "Sangat Baik",
    Predikat.BAIK: "Baik",
    Predikat.BUTUH_PERBAIKAN: "Butuh Perbaikan",
    Predikat.KURANG: "Kurang/Misconduct",
    Predikat.SANGAT_KURANG: "Sangat Kurang",
}
PREDIKAT_CODES = {
    Predikat.SANGAT_BAIK: 1,
    Predikat.BAIK: 2,
    Predikat.BUTUH_PERBAIKAN: 3,
    Predikat.KURANG: 4,
    Predikat.SANGAT_KURANG: 5,
}

# (rating hasil kerja, rating perilaku kerja) -> predikat
MATRIX: dict[tuple[Rating, Rating], Predikat] = {
    (Rating.DI_ATAS, Rating.DI_ATAS): Predikat.SANGAT_BAIK,
    (Rating.DI_ATAS, Rating.SESUAI): Predikat.BAIK,
    (Rating.DI_ATAS, Rating.DI_BAWAH): Predikat.KURANG,
    (Rating.SESUAI, Rating.DI_ATAS): Predikat.BAIK,
    (Rating.SESUAI, Rating.SESUAI): Predikat.BAIK,
    (Rating.SESUAI, Rating.DI_BAWAH): Predikat.KURANG,
    (Rating.DI_BAWAH, Rating.DI_ATAS): Predikat.BUTUH_PERBAIKAN,
    (Rating.DI_BAWAH, Rating.SESUAI): Predikat.BUTUH_PERBAIKAN,
    (Rating.DI_BAWAH, Rating.DI_BAWAH): Predikat.SANGAT_KURANG,
}


def predikat_for(hasil_kerja: Rating, perilaku_kerja: Rating) -> Predikat:
    return MATRIX[(hasil_kerja, perilaku_kerja)]


def parse_rating(value: object, field: str) -> Rating:
    """A rating from user input; anything outside the three values is bad input."""
    try:
        return Rating(value)
    except ValueError:
        raise AppError(
            "rating_tidak_valid",
            f"Nilai {field} harus salah satu dari DI_ATAS, SESUAI, DI_BAWAH.",
            f"{field} must be one of DI_ATAS, SESUAI, DI_BAWAH.",
            status_code=422,
            details={"field": field, "value": str(value)[:50]},
        ) from None
