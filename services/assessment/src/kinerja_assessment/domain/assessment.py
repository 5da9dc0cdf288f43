"""The assessment of one teacher for one period: open -> (ratings, changeable) -> final.

A final assessment is never edited; corrections (a new version) come with a later issue.
"""

from __future__ import annotations

from dataclasses import dataclass

from kinerja_shared.errors import Conflict, Forbidden

from kinerja_assessment.domain.predikat import Predikat, Rating, predikat_for

OPEN = "open"
FINAL = "final"
STATUS_LABELS = {OPEN: "Berjalan", FINAL: "Final"}


@dataclass
class Ratings:
    hasil_kerja: Rating
    perilaku_kerja: Rating

    @property
    def predikat(self) -> Predikat:
        return predikat_for(self.hasil_kerja, self.perilaku_kerja)


def ensure_assessor(assessor_nip: str | None, actor_nip: str | None) -> None:
    """Only the Pejabat Penilai Kinerja of record assesses."""
    if not actor_nip or actor_nip != assessor_nip:
        raise Forbidden(
            "bukan_penilai",
            "Anda bukan Pejabat Penilai Kinerja untuk guru ini.",
            "You are not this teacher's assessor.",
        )


def ensure_open(status: str) -> None:
    if status == FINAL:
        raise Conflict(
            "penilaian_sudah_final",
            "Penilaian sudah final dan tidak dapat diubah.",
            "The assessment is final and cannot be changed.",
        )


def ratings_to_finalize(hasil_kerja: str | None, perilaku_kerja: str | None) -> Ratings:
    if hasil_kerja is None or perilaku_kerja is None:
        raise Conflict(
            "rating_belum_lengkap",
            "Rating hasil kerja dan rating perilaku kerja harus diisi sebelum finalisasi.",
            "Both ratings are needed before finalising.",
        )
    return Ratings(Rating(hasil_kerja), Rating(perilaku_kerja))
