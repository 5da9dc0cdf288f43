"""Unit tests of the daily-report rules (domain/daily_reports.py): which event's state wins
whatever the order they arrive in, the latest "perlu perbaikan" note, and the monthly summary
against the plan's monthly targets."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest

from kinerja_assessment.domain import daily_reports as dr
from kinerja_assessment.domain.daily_reports import ACCEPTED, NEEDS_FIX, SUBMITTED, ReportCount, ReportState

T = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T + timedelta(minutes=minutes)


def fold(events: list[ReportState]) -> ReportState | None:
    state = None
    for e in events:
        if dr.supersedes(state, e):
            state = e
    return state


def test_a_later_event_wins_an_older_one_changes_nothing():
    submitted = ReportState(SUBMITTED, at(0))
    assert dr.supersedes(None, submitted)
    assert dr.supersedes(submitted, ReportState(NEEDS_FIX, at(5)))
    assert not dr.supersedes(ReportState(NEEDS_FIX, at(5)), submitted)  # the submission it reviewed
    assert dr.supersedes(ReportState(NEEDS_FIX, at(5)), ReportState(SUBMITTED, at(9)))  # the fix


def test_the_same_event_twice_changes_nothing():
    for state in (ReportState(SUBMITTED, at(0)), ReportState(NEEDS_FIX, at(1)), ReportState(ACCEPTED, at(2))):
        assert not dr.supersedes(state, state)


def test_at_the_same_instant_the_review_wins():
    assert dr.supersedes(ReportState(SUBMITTED, at(0)), ReportState(ACCEPTED, at(0)))
    assert not dr.supersedes(ReportState(NEEDS_FIX, at(0)), ReportState(SUBMITTED, at(0)))


def test_accepted_is_final():
    accepted = ReportState(ACCEPTED, at(5))
    assert not dr.supersedes(accepted, ReportState(SUBMITTED, at(9)))
    assert not dr.supersedes(accepted, ReportState(NEEDS_FIX, at(9)))


def test_an_unknown_state_is_refused():
    with pytest.raises(ValueError):
        dr.supersedes(None, ReportState("approved", at(0)))


def test_every_arrival_order_of_one_reports_history_ends_in_the_same_state():
    # submitted, asked to fix, fixed, accepted: whichever order the four events arrive in.
    history = [ReportState(SUBMITTED, at(0)), ReportState(NEEDS_FIX, at(5)),
               ReportState(SUBMITTED, at(9)), ReportState(ACCEPTED, at(12))]
    for order in itertools.permutations(history):
        assert fold(list(order)) == ReportState(ACCEPTED, at(12)), order
    # Without the acceptance the fix is what is waiting for the PPK.
    for order in itertools.permutations(history[:3]):
        assert fold(list(order)) == ReportState(SUBMITTED, at(9)), order


def test_the_latest_needs_fix_note_is_kept():
    assert dr.is_newer_note(None, at(0))
    assert dr.is_newer_note(at(0), at(5))
    assert not dr.is_newer_note(at(5), at(0))
    assert not dr.is_newer_note(at(5), at(5))  # the same review again


def test_months():
    assert dr.month_of(date(2026, 2, 28)) == "2026-02"
    assert dr.period_months(2026, 1, 3) == ["2026-01", "2026-02", "2026-03"]


TARGETS = [
    {"target_id": "t-jan", "month": "2026-01", "item_id": "pk-1", "description": "Modul ajar"},
    {"target_id": "t-feb-1", "month": "2026-02", "item_id": "pk-1", "description": "Asesmen awal"},
    {"target_id": "t-feb-2", "month": "2026-02", "item_id": None, "description": "Refleksi"},
]


def test_summary_per_month_against_the_monthly_targets():
    counts = [
        ReportCount("2026-01", "t-jan", ACCEPTED, 3),
        ReportCount("2026-01", "t-jan", NEEDS_FIX, 1),
        ReportCount("2026-02", "t-feb-1", SUBMITTED, 2),
        ReportCount("2026-02", "t-feb-2", ACCEPTED, 1),
        ReportCount("2026-02", None, NEEDS_FIX, 1),  # only its review has arrived
    ]
    s = dr.summarize(dr.period_months(2026, 1, 3), TARGETS, counts)
    assert s["by_status"] == {SUBMITTED: 2, ACCEPTED: 4, NEEDS_FIX: 2}
    assert (s["total"], s["awaiting_review"], s["without_known_target"]) == (8, 2, 1)
    jan, feb, mar = s["months"]
    assert (jan["month"], jan["targets"], jan["targets_covered"], jan["total"]) == ("2026-01", 1, 1, 4)
    assert jan["by_status"] == {SUBMITTED: 0, ACCEPTED: 3, NEEDS_FIX: 1}
    # February: two targets, one with an accepted report; the report without a target counts in
    # the month but against no target.
    assert (feb["targets"], feb["targets_covered"], feb["total"]) == (2, 1, 4)
    assert [(t["target_id"], t["by_status"][ACCEPTED], t["by_status"][SUBMITTED]) for t in feb["target_items"]] == [
        ("t-feb-1", 0, 2), ("t-feb-2", 1, 0)]
    assert mar == {"month": "2026-03", "by_status": {SUBMITTED: 0, ACCEPTED: 0, NEEDS_FIX: 0}, "total": 0,
                   "targets": 0, "targets_covered": 0, "target_items": []}


def test_summary_without_targets_or_reports():
    s = dr.summarize(["2026-07"], [], [])
    assert s["total"] == 0 and [m["month"] for m in s["months"]] == ["2026-07"]
    # Without known targets every report is counted, none against a target.
    s = dr.summarize([], [], [ReportCount("2026-08", "t-x", ACCEPTED, 2)])
    assert (s["without_known_target"], s["months"][0]["month"], s["months"][0]["targets"]) == (2, "2026-08", 0)
