"""When an assessment may be finalized: inside the period's penilaian stage, in whole days in
Asia/Jakarta (a result finalized at 23:59:59 WIB on the last day counts, 00:00:00 the next day
does not), or until the day a Dinas extension gives.

A period announced without stages (older PeriodOpened events) takes its last month as the
penilaian window [design]: pmm-2024's June and December.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from kinerja_shared.clock import batas_waktu, jakarta_date, tanggal
from kinerja_shared.errors import AppError, Conflict


@dataclass(frozen=True)
class Window:
    starts_on: date
    ends_on: date


def penilaian_window(stages: list[dict], year: int, month_end: int) -> Window:
    for s in stages:
        if s["stage"] == "penilaian":
            return Window(date.fromisoformat(str(s["starts_on"])), date.fromisoformat(str(s["ends_on"])))
    return Window(date(year, month_end, 1), date(year, month_end, calendar.monthrange(year, month_end)[1]))


def deadline(window: Window, extended_until: date | None) -> date:
    return max(window.ends_on, extended_until) if extended_until else window.ends_on


def ensure_finalizable_now(window: Window, extended_until: date | None, now: datetime) -> None:
    today = jakarta_date(now)
    if today < window.starts_on:
        raise Conflict(
            "penilaian_belum_dibuka",
            f"Tahap penilaian periode ini baru dibuka pada {tanggal(window.starts_on)}; "
            "penilaian belum dapat difinalisasi.",
            f"The assessment stage opens on {window.starts_on.isoformat()}.",
            details={"opens_on": window.starts_on.isoformat()},
        )
    last = deadline(window, extended_until)
    if today > last:
        raise Conflict(
            "batas_penilaian_terlewat",
            f"Batas waktu finalisasi penilaian adalah {batas_waktu(last)}; sudah terlewat. "
            "Dinas Pendidikan dapat memberikan perpanjangan.",
            f"The assessment deadline was {last.isoformat()} 23:59:59 WIB; the Dinas may extend it.",
            details={"deadline": last.isoformat(), "extended": extended_until is not None},
        )


def ensure_valid_extension(window: Window, until: date, today: date) -> None:
    """An extension moves the deadline later than the stage's end, and not into the past."""
    if until <= window.ends_on or until < today:
        raise AppError(
            "perpanjangan_tidak_valid",
            f"Perpanjangan harus setelah akhir tahap penilaian ({tanggal(window.ends_on)}) "
            "dan tidak boleh di masa lalu.",
            "An extension must end after the assessment stage and not in the past.",
            status_code=422,
            details={"stage_ends_on": window.ends_on.isoformat(), "until": until.isoformat()},
        )
