"""Periods, their stage windows and the clock.

A period is made from a policy (domain/policy.py): its months and default stage windows come
from the policy's template for that year; the Dinas may move the windows, but only inside the
period's months, in order and without overlap, with the late-planning deadline between the end
of planning and the end of execution. Deadlines are whole days in Asia/Jakarta: a plan sent at
23:59:59 WIB on the deadline counts, one at 00:00:00 the next day does not.

Status moves by the clock (service_layer/periods.tick): scheduled -> open on the first day,
each stage announced on its first day, open -> closed after the last day.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from kinerja_shared.clock import batas_waktu, jakarta_date, tanggal
from kinerja_shared.errors import AppError, Conflict

from kinerja_planning.domain.policy import STAGE_LABELS, STAGES, Policy, PeriodTemplate, policies

SCHEDULED, OPEN, CLOSED = "scheduled", "open", "closed"


@dataclass(frozen=True)
class StageWindow:
    stage: str
    starts_on: date
    ends_on: date

    def as_dict(self) -> dict:
        return {"stage": self.stage, "starts_on": self.starts_on.isoformat(), "ends_on": self.ends_on.isoformat()}


@dataclass(frozen=True)
class Schedule:
    stages: tuple[StageWindow, ...]
    late_planning_deadline: date | None

    def window(self, stage: str) -> StageWindow:
        return next(w for w in self.stages if w.stage == stage)

    @property
    def planning_deadline(self) -> date:
        return self.late_planning_deadline or self.window("perencanaan").ends_on

    def stage_on(self, day: date) -> str | None:
        return next((w.stage for w in self.stages if w.starts_on <= day <= w.ends_on), None)

    def as_json(self) -> list[dict]:
        return [w.as_dict() for w in self.stages]

    @classmethod
    def from_json(cls, stages: list[dict], late: date | None) -> Schedule:
        return cls(
            tuple(StageWindow(s["stage"], date.fromisoformat(s["starts_on"]), date.fromisoformat(s["ends_on"])) for s in stages),
            late,
        )


@dataclass(frozen=True)
class PeriodWindow:
    policy: Policy
    year: int
    semester: int | None
    name: str
    starts_on: date
    ends_on: date
    month_start: int
    month_end: int
    schedule: Schedule
    periodic_review: str | None


def _invalid(code: str, message: str, message_en: str, **details) -> AppError:
    return AppError(code, message, message_en, status_code=422, details=details or None)


def get_policy(code: str) -> Policy:
    known = policies()
    if code not in known:
        raise _invalid(
            "kebijakan_tidak_dikenal",
            f"Kebijakan '{code}' tidak dikenal. Yang tersedia: {', '.join(sorted(known))}.",
            f"Unknown policy '{code}'. Known: {', '.join(sorted(known))}.",
        )
    return known[code]


def _day(year: int, month_day: str) -> date:
    month, day = (int(x) for x in month_day.split("-"))
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _template(policy: Policy, semester: int | None) -> PeriodTemplate:
    template = policy.template(semester)
    if template is None:
        allowed = [t.semester for t in policy.periods]
        if allowed == [None]:
            message = f"Kebijakan {policy.code} memiliki satu periode tahunan; semester tidak diisi."
        else:
            message = f"Semester harus {' atau '.join(str(s) for s in allowed)} untuk kebijakan {policy.code}."
        raise _invalid("semester_tidak_valid", message, f"No such period under policy {policy.code}.")
    return template


def period_window(
    policy_code: str, year: int, semester: int | None, *, periodic_review: str | None = None,
    stages: dict[str, tuple[date, date]] | None = None, late_planning_deadline: date | None = None,
) -> PeriodWindow:
    """A period under ``policy_code`` with the policy's default windows, or the Dinas' own."""
    policy = get_policy(policy_code)
    if not 2000 <= year <= 2100:
        raise _invalid("tahun_tidak_valid", "Tahun periode harus antara 2000 dan 2100.",
                       "The period's year must be between 2000 and 2100.")
    template = _template(policy, semester)
    if policy.periodic_reviews:
        periodic_review = periodic_review or policy.periodic_reviews[-1]
        if periodic_review not in policy.periodic_reviews:
            raise _invalid(
                "peninjauan_berkala_tidak_valid",
                f"Peninjauan berkala harus salah satu dari: {', '.join(policy.periodic_reviews)}.",
                f"Periodic review must be one of {policy.periodic_reviews}.",
            )
    elif periodic_review:
        raise _invalid("peninjauan_berkala_tidak_valid",
                       f"Kebijakan {policy.code} tidak mengenal peninjauan berkala.",
                       f"Policy {policy.code} has no periodic reviews.")
    starts_on = date(year, template.month_start, 1)
    ends_on = date(year, template.month_end, calendar.monthrange(year, template.month_end)[1])
    default = Schedule(
        tuple(StageWindow(s, _day(year, a), _day(year, b)) for s, (a, b) in template.stages.items()),
        _day(year, template.late_planning_deadline) if template.late_planning_deadline else None,
    )
    schedule = adjust_schedule(default, starts_on, ends_on, stages, late_planning_deadline)
    return PeriodWindow(
        policy=policy, year=year, semester=semester,
        name=f"{template.name} {year}", starts_on=starts_on, ends_on=ends_on,
        month_start=template.month_start, month_end=template.month_end,
        schedule=schedule, periodic_review=periodic_review,
    )


def adjust_schedule(
    current: Schedule, starts_on: date, ends_on: date,
    stages: dict[str, tuple[date, date]] | None, late_planning_deadline: date | None,
) -> Schedule:
    """The schedule with the Dinas' changes, checked against the period's bounds. Every
    problem is reported at once."""
    stages = stages or {}
    unknown = sorted(set(stages) - set(STAGES))
    problems: list[str] = [f"Tahap '{s}' tidak dikenal (perencanaan, pelaksanaan, penilaian)." for s in unknown]
    windows = tuple(
        StageWindow(w.stage, *stages[w.stage]) if w.stage in stages else w for w in current.stages
    )
    late = late_planning_deadline or current.late_planning_deadline
    for w in windows:
        label = STAGE_LABELS[w.stage]
        if w.starts_on > w.ends_on:
            problems.append(f"{label}: tanggal mulai {tanggal(w.starts_on)} setelah tanggal selesai {tanggal(w.ends_on)}.")
        if w.starts_on < starts_on or w.ends_on > ends_on:
            problems.append(
                f"{label} ({tanggal(w.starts_on)} s.d. {tanggal(w.ends_on)}) di luar periode "
                f"{tanggal(starts_on)} s.d. {tanggal(ends_on)}."
            )
    for before, after in zip(windows, windows[1:]):
        if after.starts_on <= before.ends_on:
            problems.append(
                f"{STAGE_LABELS[after.stage]} mulai {tanggal(after.starts_on)}, sebelum "
                f"{STAGE_LABELS[before.stage]} selesai ({tanggal(before.ends_on)}): jadwal tumpang tindih."
            )
    schedule = Schedule(windows, late)
    if late is not None and not problems:
        planning_end = schedule.window("perencanaan").ends_on
        execution_end = schedule.window("pelaksanaan").ends_on
        if not planning_end <= late <= execution_end:
            problems.append(
                f"Batas akhir perencanaan terlambat ({tanggal(late)}) harus antara akhir perencanaan "
                f"({tanggal(planning_end)}) dan akhir pelaksanaan ({tanggal(execution_end)})."
            )
    if problems:
        raise _invalid(
            "jadwal_periode_tidak_valid",
            "Jadwal periode tidak sesuai kebijakan: " + " ".join(problems),
            "The period's windows do not fit its policy.",
            problems=problems,
        )
    return schedule


def overlaps(a: tuple[date, date], b: tuple[date, date]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


# ------------------------------------------------------------------ by the clock


def due_transitions(status: str, schedule: Schedule, starts_on: date, ends_on: date,
                    announced: list[str], now: datetime) -> list[str]:
    """What the clock says must happen now: "open", "stage:<name>" for each stage begun and
    not yet announced, "close". In order, so one tick catches up after downtime."""
    today = jakarta_date(now)
    due: list[str] = []
    if status == CLOSED:
        return due
    if status == SCHEDULED and today >= starts_on:
        due.append("open")
    if status == OPEN or due:
        due += [f"stage:{w.stage}" for w in schedule.stages
                if w.starts_on <= today and w.stage not in announced]
        if today > ends_on:
            due.append("close")
    return due


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


def ensure_accepts_plans(status: str, schedule: Schedule, now: datetime) -> None:
    """A plan is written and submitted from the first day of planning to the (late-)planning
    deadline, inclusive, in Jakarta time."""
    today = jakarta_date(now)
    planning = schedule.window("perencanaan")
    if status == CLOSED:
        raise Conflict("periode_sudah_ditutup",
                       "Periode sudah ditutup; rencana kinerja tidak dapat diubah lagi.", "The period is closed.")
    if status == SCHEDULED or today < planning.starts_on:
        raise Conflict(
            "periode_belum_dibuka",
            f"Perencanaan kinerja periode ini baru dibuka pada {tanggal(planning.starts_on)}.",
            f"Planning opens on {planning.starts_on.isoformat()}.",
            details={"opens_on": planning.starts_on.isoformat()},
        )
    deadline = schedule.planning_deadline
    if today > deadline:
        raise Conflict(
            "batas_perencanaan_terlewat",
            f"Batas waktu pengajuan rencana kinerja adalah {batas_waktu(deadline)}; sudah terlewat.",
            f"The planning deadline was {deadline.isoformat()} 23:59:59 WIB.",
            details={"deadline": deadline.isoformat()},
        )


def ensure_accepts_agreement(status: str, schedule: Schedule, now: datetime) -> None:
    """The PPK agrees or returns plans from the start of planning to the end of execution."""
    today = jakarta_date(now)
    if status == CLOSED:
        raise Conflict("periode_sudah_ditutup",
                       "Periode sudah ditutup; rencana kinerja tidak dapat diubah lagi.", "The period is closed.")
    if status == SCHEDULED or today < schedule.window("perencanaan").starts_on:
        raise Conflict("periode_belum_dibuka", "Periode belum dibuka.", "The period is not open yet.")
    end = schedule.window("pelaksanaan").ends_on
    if today > end:
        raise Conflict(
            "batas_persetujuan_terlewat",
            f"Rencana kinerja hanya dapat disepakati atau dikembalikan sampai {batas_waktu(end)}.",
            f"Plans can be agreed or returned until {end.isoformat()} 23:59:59 WIB.",
            details={"deadline": end.isoformat()},
        )


def period_months(year: int, month_start: int, month_end: int) -> list[str]:
    return [f"{year}-{m:02d}" for m in range(month_start, month_end + 1)]
