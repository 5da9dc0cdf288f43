"""Unit tests of periods made from policy data: windows, the Dinas' adjustments within the
policy's bounds, deadlines in Asia/Jakarta, what the clock makes due. No server, no database."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from zoneinfo import ZoneInfo

from kinerja_shared.errors import AppError

from kinerja_planning.domain.periods import (
    CLOSED, OPEN, SCHEDULED, due_transitions, ensure_accepts_agreement, ensure_accepts_plans,
    period_window, status_after_close, status_after_open,
)
from kinerja_planning.domain.policy import policies


def code_of(excinfo) -> tuple[str, int]:
    return excinfo.value.code, excinfo.value.status_code


_WIB = ZoneInfo("Asia/Jakarta")


def test_both_policies_are_data():
    assert set(policies()) >= {"pmm-2024", "ruang-gtk-2025"}
    pmm = policies()["pmm-2024"]
    assert (pmm.competency_points_min, pmm.competency_points_max, pmm.evidence_required) == (32, 128, True)
    gtk = policies()["ruang-gtk-2025"]
    assert gtk.evidence_required is False and set(gtk.periodic_reviews) == {"bulanan", "triwulanan"}


def test_semester_windows_under_pmm_2024():
    s1 = period_window("pmm-2024", 2026, 1)
    assert (s1.name, s1.starts_on, s1.ends_on, s1.month_start, s1.month_end) == (
        "Semester 1 2026", date(2026, 1, 1), date(2026, 6, 30), 1, 6)
    assert [(w.stage, w.starts_on, w.ends_on) for w in s1.schedule.stages] == [
        ("perencanaan", date(2026, 1, 1), date(2026, 1, 31)),
        ("pelaksanaan", date(2026, 2, 1), date(2026, 5, 31)),
        ("penilaian", date(2026, 6, 1), date(2026, 6, 30)),
    ]
    assert s1.schedule.planning_deadline == date(2026, 3, 31)
    s2 = period_window("pmm-2024", 2026, 2)
    assert (s2.starts_on, s2.ends_on, s2.schedule.window("penilaian").ends_on) == (
        date(2026, 7, 1), date(2026, 12, 31), date(2026, 12, 31))


def test_one_annual_period_under_ruang_gtk_2025():
    year = period_window("ruang-gtk-2025", 2027, None, periodic_review="bulanan")
    assert (year.name, year.starts_on, year.ends_on, year.periodic_review) == (
        "Tahunan 2027", date(2027, 1, 1), date(2027, 12, 31), "bulanan")
    assert period_window("ruang-gtk-2025", 2027, None).periodic_review == "triwulanan"


@pytest.mark.parametrize(
    ("policy", "year", "semester", "kwargs", "code"),
    [
        ("ruang-gtk-2099", 2026, 1, {}, "kebijakan_tidak_dikenal"),
        ("pmm-2024", 2026, 3, {}, "semester_tidak_valid"),
        ("pmm-2024", 2026, None, {}, "semester_tidak_valid"),
        ("ruang-gtk-2025", 2026, 1, {}, "semester_tidak_valid"),
        ("pmm-2024", 1999, 1, {}, "tahun_tidak_valid"),
        ("pmm-2024", 2026, 1, {"periodic_review": "bulanan"}, "peninjauan_berkala_tidak_valid"),
        ("ruang-gtk-2025", 2026, None, {"periodic_review": "mingguan"}, "peninjauan_berkala_tidak_valid"),
    ],
)
def test_bad_period_requests(policy, year, semester, kwargs, code):
    with pytest.raises(AppError) as excinfo:
        period_window(policy, year, semester, **kwargs)
    assert code_of(excinfo) == (code, 422)


def test_the_dinas_moves_windows_within_the_policy():
    moved = period_window("pmm-2024", 2026, 1, stages={"perencanaan": (date(2026, 1, 5), date(2026, 2, 10)),
                                                       "pelaksanaan": (date(2026, 2, 11), date(2026, 5, 31))},
                          late_planning_deadline=date(2026, 4, 15))
    assert moved.schedule.window("perencanaan").ends_on == date(2026, 2, 10)
    assert moved.schedule.planning_deadline == date(2026, 4, 15)


@pytest.mark.parametrize(
    ("stages", "late", "fragment"),
    [
        ({"perencanaan": (date(2025, 12, 20), date(2026, 1, 31))}, None, "di luar periode"),
        ({"penilaian": (date(2026, 6, 1), date(2026, 7, 5))}, None, "di luar periode"),
        ({"perencanaan": (date(2026, 1, 1), date(2026, 2, 15))}, None, "tumpang tindih"),
        ({"pelaksanaan": (date(2026, 5, 31), date(2026, 2, 1))}, None, "setelah tanggal selesai"),
        (None, date(2026, 1, 15), "Batas akhir perencanaan"),
        (None, date(2026, 6, 10), "Batas akhir perencanaan"),
        ({"istirahat": (date(2026, 1, 1), date(2026, 1, 2))}, None, "tidak dikenal"),
    ],
)
def test_windows_that_overlap_or_fall_outside_the_policy_are_refused(stages, late, fragment):
    with pytest.raises(AppError) as excinfo:
        period_window("pmm-2024", 2026, 1, stages=stages, late_planning_deadline=late)
    assert code_of(excinfo) == ("jadwal_periode_tidak_valid", 422)
    assert fragment in excinfo.value.message


def test_the_planning_deadline_is_the_whole_day_in_jakarta():
    schedule = period_window("pmm-2024", 2026, 1).schedule
    # 23:59:59 WIB on 31 March is accepted; 00:00:00 WIB on 1 April is refused, naming the deadline.
    ensure_accepts_plans(OPEN, schedule, datetime(2026, 3, 31, 23, 59, 59, tzinfo=_WIB))
    with pytest.raises(AppError) as excinfo:
        ensure_accepts_plans(OPEN, schedule, datetime(2026, 4, 1, 0, 0, 0, tzinfo=_WIB))
    assert code_of(excinfo) == ("batas_perencanaan_terlewat", 409)
    assert "31 Maret 2026 pukul 23.59.59 WIB" in excinfo.value.message
    # The same instant in UTC: 16:59:59 UTC is still 31 March in Jakarta.
    ensure_accepts_plans(OPEN, schedule, datetime(2026, 3, 31, 16, 59, 59, tzinfo=timezone.utc))


def test_plans_before_planning_or_in_a_closed_period_are_refused():
    schedule = period_window("pmm-2024", 2026, 2).schedule
    for status, at, code in (
        (SCHEDULED, datetime(2026, 7, 2, tzinfo=_WIB), "periode_belum_dibuka"),
        (OPEN, datetime(2026, 6, 30, 23, 59, tzinfo=_WIB), "periode_belum_dibuka"),
        (CLOSED, datetime(2026, 7, 2, tzinfo=_WIB), "periode_sudah_ditutup"),
    ):
        with pytest.raises(AppError) as excinfo:
            ensure_accepts_plans(status, schedule, at)
        assert code_of(excinfo) == (code, 409)


def test_plans_are_agreed_until_the_end_of_execution():
    schedule = period_window("pmm-2024", 2026, 1).schedule
    ensure_accepts_agreement(OPEN, schedule, datetime(2026, 5, 31, 23, 59, 59, tzinfo=_WIB))
    with pytest.raises(AppError) as excinfo:
        ensure_accepts_agreement(OPEN, schedule, datetime(2026, 6, 1, tzinfo=_WIB))
    assert code_of(excinfo) == ("batas_persetujuan_terlewat", 409)


def test_the_clock_opens_announces_and_closes_in_order():
    w = period_window("pmm-2024", 2026, 1)
    due = lambda status, announced, at: due_transitions(status, w.schedule, w.starts_on, w.ends_on, announced, at)  # noqa: E731
    assert due(SCHEDULED, [], datetime(2025, 12, 31, 23, 59, 59, tzinfo=_WIB)) == []
    assert due(SCHEDULED, [], datetime(2026, 1, 1, 0, 0, 0, tzinfo=_WIB)) == ["open", "stage:perencanaan"]
    assert due(OPEN, ["perencanaan"], datetime(2026, 1, 20, tzinfo=_WIB)) == []
    assert due(OPEN, ["perencanaan"], datetime(2026, 2, 1, tzinfo=_WIB)) == ["stage:pelaksanaan"]
    # After downtime one tick catches up, in order.
    assert due(SCHEDULED, [], datetime(2026, 7, 1, tzinfo=_WIB)) == [
        "open", "stage:perencanaan", "stage:pelaksanaan", "stage:penilaian", "close"]
    assert due(CLOSED, [], datetime(2026, 7, 1, tzinfo=_WIB)) == []


def test_period_status_transitions():
    assert status_after_open(SCHEDULED) == (OPEN, True)
    assert status_after_open(OPEN) == (OPEN, False)
    assert status_after_close(OPEN) == (CLOSED, True)
    assert status_after_close(CLOSED) == (CLOSED, False)
    for refused in (lambda: status_after_open(CLOSED), lambda: status_after_close(SCHEDULED)):
        with pytest.raises(AppError) as excinfo:
            refused()
        assert code_of(excinfo) == ("status_periode_tidak_sesuai", 409)
