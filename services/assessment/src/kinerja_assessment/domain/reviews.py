"""Periodic reviews (peninjauan berkala) under a policy that has them (ruang-gtk-2025: one annual
period, reviewed monthly or quarterly). Each review names its month ("2026-03") or quarter
("2026-Q1"), lies inside the period and is not in the future, records the PPK's view of progress
on the three-level rating scale and written feedback, and is recorded once. The reviews are
inputs the PPK sees for the annual rating, not a formula for it [design]."""

from __future__ import annotations

import re
from datetime import date

from kinerja_shared.errors import AppError, Conflict

from kinerja_assessment.domain.predikat import Rating, parse_rating

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def ensure_policy_has_reviews(has_reviews: bool, policy: str) -> None:
    if not has_reviews:
        raise Conflict("peninjauan_berkala_tidak_berlaku",
                       f"Kebijakan {policy} tidak mengenal peninjauan berkala.",
                       f"Policy {policy} has no periodic reviews.")


def parse_review(key: object, year: int, month_start: int, month_end: int, today: date) -> str:
    """The review's month or quarter, checked against the period and the clock."""
    text = key if isinstance(key, str) else ""
    if m := _MONTH.match(text):
        y, first, last = int(m[1]), int(m[2]), int(m[2])
    elif q := _QUARTER.match(text):
        y, first = int(q[1]), 3 * int(q[2]) - 2
        last = first + 2
    else:
        raise AppError("peninjauan_tidak_valid", "Peninjauan harus berupa bulan (YYYY-MM) atau triwulan (YYYY-Qn).",
                       "review must be YYYY-MM or YYYY-Qn.", status_code=422)
    if y != year or first < month_start or last > month_end:
        raise AppError("peninjauan_tidak_valid", f"Peninjauan {text} di luar periode penilaian.",
                       "The review lies outside the period.", status_code=422)
    if date(y, first, 1) > today:
        raise AppError("peninjauan_tidak_valid", f"Peninjauan {text} belum dapat dicatat (masih di masa depan).",
                       "The review is in the future.", status_code=422)
    return text


def parse_progress(value: object) -> Rating:
    return parse_rating(value, "progress")
