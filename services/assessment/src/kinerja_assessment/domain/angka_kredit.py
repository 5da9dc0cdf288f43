"""Angka kredit (PermenPANRB 1/2023; Peraturan BKN 3/2023).

    AK = (months in the period / 12) x percentage of the predikat x annual coefficient of the jenjang

Computed exactly in Decimal, then rounded once per assessed period to two decimals, half up
(2 months, Baik, Ahli Pertama = 2.0833.. -> 2.08, the worked example of the PermenPANRB 1/2023 juknis).
Cumulative AK is the sum of the rounded period values, so what a teacher sees per period adds up
to the total shown. A semester counts as 6 months [design].
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from kinerja_assessment.domain.predikat import Predikat

CENT = Decimal("0.01")

PERCENTAGE = {
    Predikat.SANGAT_BAIK: Decimal("1.50"),
    Predikat.BAIK: Decimal("1.00"),
    Predikat.BUTUH_PERBAIKAN: Decimal("0.75"),
    Predikat.KURANG: Decimal("0.50"),
    Predikat.SANGAT_KURANG: Decimal("0.25"),
}

PERTAMA, MUDA, MADYA, UTAMA = "PERTAMA", "MUDA", "MADYA", "UTAMA"
JENJANG_LABELS = {PERTAMA: "Ahli Pertama", MUDA: "Ahli Muda", MADYA: "Ahli Madya", UTAMA: "Ahli Utama"}
COEFFICIENT = {PERTAMA: Decimal("12.5"), MUDA: Decimal("25"), MADYA: Decimal("37.5"), UTAMA: Decimal("50")}
# Cumulative AK needed: (to the next pangkat, to the next jenjang); Ahli Utama has no next jenjang.
NEEDED = {
    PERTAMA: (Decimal(50), Decimal(100)),
    MUDA: (Decimal(100), Decimal(200)),
    MADYA: (Decimal(150), Decimal(450)),
    UTAMA: (Decimal(200), None),
}


def jenjang_of(text: str | None) -> str | None:
    """The jenjang from the roster's wording ("Ahli Muda", "Guru Madya", "madya"); None when the
    roster does not say (no AK is computed then)."""
    words = (text or "").lower().split()
    for key in (PERTAMA, MUDA, MADYA, UTAMA):
        if key.lower() in words:
            return key
    return None


def angka_kredit(months: int, predikat: Predikat, jenjang: str) -> Decimal:
    if not 1 <= months <= 12:
        raise ValueError(f"months must be 1..12, got {months}")
    exact = Decimal(months) / Decimal(12) * PERCENTAGE[predikat] * COEFFICIENT[jenjang]
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def months_of(month_start: int, month_end: int) -> int:
    return month_end - month_start + 1


@dataclass(frozen=True)
class Progress:
    jenjang: str
    cumulative: Decimal
    needed_pangkat: Decimal
    needed_jenjang: Decimal | None

    @property
    def remaining_pangkat(self) -> Decimal:
        return max(Decimal(0), self.needed_pangkat - self.cumulative).quantize(CENT)

    @property
    def remaining_jenjang(self) -> Decimal | None:
        if self.needed_jenjang is None:
            return None
        return max(Decimal(0), self.needed_jenjang - self.cumulative).quantize(CENT)

    def as_dict(self) -> dict:
        return {
            "jenjang": self.jenjang,
            "jenjang_label": JENJANG_LABELS[self.jenjang],
            "cumulative": str(self.cumulative.quantize(CENT)),
            "needed_next_pangkat": str(self.needed_pangkat),
            "remaining_next_pangkat": str(self.remaining_pangkat),
            "needed_next_jenjang": str(self.needed_jenjang) if self.needed_jenjang is not None else None,
            "remaining_next_jenjang": str(self.remaining_jenjang) if self.remaining_jenjang is not None else None,
        }


def progress(jenjang: str, period_values: list[Decimal]) -> Progress:
    """Cumulative AK from the rounded period values and what remains to the next pangkat and
    jenjang (the PermenPANRB 1/2023 table)."""
    pangkat, next_jenjang = NEEDED[jenjang]
    return Progress(jenjang, sum(period_values, Decimal(0)), pangkat, next_jenjang)
