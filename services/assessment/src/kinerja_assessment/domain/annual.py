"""The annual predikat.

Under pmm-2024 a year has two semester assessments. No regulation we found settles
how the annual predikat follows from the two, so it is a policy setting (``annual_rule``):

- ``terakhir`` (default) [design]: the second semester's predikat, the PPK's last judgement of
  the year, made with the first semester's result in view.
- ``terendah``: the lower of the two (a conservative reading some agencies use).

Both semesters must be final (their latest versions count). Under ruang-gtk-2025 there is one
annual period (``tahunan``): its predikat is the annual predikat, and the periodic reviews
(monthly or quarterly) are inputs the PPK sees, not a formula.
"""

from __future__ import annotations

from kinerja_assessment.domain.predikat import PREDIKAT_CODES, Predikat


def annual_predikat(rule: str, by_semester: dict[int | None, Predikat]) -> Predikat | None:
    if rule == "tahunan":
        return by_semester.get(None)
    if 1 not in by_semester or 2 not in by_semester:
        return None
    if rule == "terendah":
        # SIASN codes grow as the predikat gets worse (1 Sangat Baik .. 5 Sangat Kurang).
        return max(by_semester[1], by_semester[2], key=lambda p: PREDIKAT_CODES[p])
    return by_semester[2]
