"""Periods and the policy that shapes them.

A period's policy is data chosen per period (see domain.md): "pmm-2024" has two semesters a
year. Later policies (one annual cycle, other stages) are added to :data:`POLICIES` without
touching the rest.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from kinerja_shared.errors import AppError, Conflict

SCHEDULED, OPEN, CLOSED = "scheduled", "open", "closed"


@dataclass(frozen=True)
class PeriodWindow:
    policy: str
    year: int
    semester: int | None
    name: str
    starts_on: date
    ends_on: date
    month_start: int
    month_end: int


@dataclass(frozen=True)
class SemesterPolicy:
    """Two periods a year: semester 1 January-June, semester 2 July-December."""

    code: str

    def window(self, year: int, semester: int | None) -> PeriodWindow:
        if semester not in (1, 2):
            raise AppError(
                "semester_tidak_valid",
                f"Semester harus 1 atau 2 untuk kebijakan {self.code}.",
                f"Semester must be 1 or 2 under policy {self.code}.",
                status_code=422,
            )
        month_start = 1 if semester == 1 else 7
        month_end = month_start + 5
        return PeriodWindow(
            policy=self.code,
            year=year,
            semester=semester,
            name=f"Semester {semester} {year}",
            starts_on=date(year, month_start, 1),
            ends_on=date(year, month_end, calendar.monthrange(year, month_end)[1]),
            month_start=month_start,
            month_end=month_end,
        )


POLICIES = {"pmm-2024": SemesterPolicy("pmm-2024")}


def period_window(policy: str, year: int, semester: int | None) -> PeriodWindow:
    """The dates of a period under ``policy``; refuses what the policy does not know."""
    chosen = POLICIES.get(policy)
    if chosen is None:
        raise AppError(
            "kebijakan_tidak_dikenal",
            f"Kebijakan '{policy}' tidak dikenal. Yang tersedia: {', '.join(sorted(POLICIES))}.",
            f"Unknown policy '{policy}'. Known: {', '.join(sorted(POLICIES))}.",
            status_code=422,
        )
    if not 2000 <= year <= 2100:
        raise AppError(
            "tahun_tidak_valid",
            "Tahun periode harus antara 2000 dan 2100.",
            "The period's year must be between 2000 and 2100.",
            status_code=422,
        )
    return chosen.window(year, semester)


def _wrong_status(status: str, action: str) -> Conflict:
    return Conflict(
        "status_periode_tidak_sesuai",
        f"Periode berstatus '{status}' tidak dapat di{action}.",
        f"A period in status '{status}' cannot be {'opened' if action == 'buka' else 'closed'}.",
    )


def status_after_open(status: str) -> tuple[str, bool]:
    """(new status, whether it changed). Opening an open period again is a no-op."""
    if status == SCHEDULED:
        return OPEN, True
    if status == OPEN:
        return OPEN, False
    raise _wrong_status(status, "buka")


def status_after_close(status: str) -> tuple[str, bool]:
    """(new status, whether it changed). Closing a closed period again is a no-op."""
    if status == OPEN:
        return CLOSED, True
    if status == CLOSED:
        return CLOSED, False
    raise _wrong_status(status, "tutup")


def ensure_accepts_plans(status: str) -> None:
    """Plans are written and agreed only while the period is open."""
    if status == SCHEDULED:
        raise Conflict(
            "periode_belum_dibuka",
            "Periode belum dibuka; rencana kinerja belum dapat diajukan.",
            "The period is not open yet.",
        )
    if status == CLOSED:
        raise Conflict(
            "periode_sudah_ditutup",
            "Periode sudah ditutup; rencana kinerja tidak dapat diubah lagi.",
            "The period is closed.",
        )
