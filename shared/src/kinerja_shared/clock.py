"""The time, injectable: deadlines are enforced by the clock, so tests and the embedded demo
must be able to say what time it is.

Every service reads the time through a :class:`Clock`. Production uses :class:`SystemClock`.
Tests use :class:`FixedClock` in process. The embedded stack and the end-to-end tests run the
services as processes and move time for all of them at once with :class:`FileClock`
(``KINERJA_CLOCK_FILE``; refused in production by :func:`clock_from_settings`).

Deadlines are days in Asia/Jakarta (WIB): a day ends at 23:59:59.999999 WIB.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

JAKARTA = ZoneInfo("Asia/Jakarta")

BULAN = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)


class Clock(Protocol):
    def now(self) -> datetime:
        """A timezone-aware instant."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock a test sets and moves."""

    def __init__(self, at: datetime) -> None:
        self.at = _aware(at)

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = _aware(at)

    def advance(self, **delta: float) -> None:
        self.at = self.at + timedelta(**delta)


class FileClock:
    """A clock shared by several processes through a file: set to an instant, it then runs on
    from there at the normal pace (so events keep their order); the system time while the file
    is missing or empty. Read on every call: the demo moves it between stages."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def now(self) -> datetime:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            text = ""
        if not text:
            return datetime.now(timezone.utc)
        at, _, set_at = text.partition(" ")
        started = _aware(datetime.fromisoformat(at))
        if not set_at:
            return started
        return started + (datetime.now(timezone.utc) - datetime.fromisoformat(set_at))

    def set(self, at: datetime) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{_aware(at).isoformat()} {datetime.now(timezone.utc).isoformat()}")
        tmp.replace(self.path)  # atomic: a reader never sees half a timestamp


def clock_from_settings(settings) -> Clock:
    path = getattr(settings, "clock_file", None)
    if not path:
        return SystemClock()
    if getattr(settings, "environment", "development") == "production":
        raise ValueError("KINERJA_CLOCK_FILE is for development and tests, not production")
    return FileClock(path)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def jakarta_date(at: datetime) -> date:
    """The calendar day in Jakarta at instant ``at``."""
    return at.astimezone(JAKARTA).date()


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=JAKARTA)


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=JAKARTA)


def tanggal(day: date) -> str:
    """A date as Indonesian users read it: 31 Maret 2026."""
    return f"{day.day} {BULAN[day.month - 1]} {day.year}"


def batas_waktu(day: date) -> str:
    """A deadline as shown to users: 31 Maret 2026 pukul 23.59.59 WIB."""
    return f"{tanggal(day)} pukul 23.59.59 WIB"
