"""Daily reports (laporan harian) as the PPK sees them in the workbench: each report's review
state, kept from the evidence service's events, and the monthly picture against the plan's
monthly targets (target kerja bulanan).

The states are the evidence contract's: ``submitted`` (diajukan, waiting for the PPK),
``accepted`` (diterima) and ``needs_fix`` (perlu perbaikan, with the PPK's note). A report asked
to be fixed is submitted again under the same report id; an accepted report is final.

Events of one report may arrive in any order (a review can overtake its submission once one of
them was retried), so the state is applied by the event's own time [design]:

- the event with the later time wins; an older one changes nothing (a duplicate neither);
- at the same instant a review wins over a submission (a review always follows the submission
  it reviews);
- ``accepted`` is final, as it is at the source.

The latest "perlu perbaikan" note of a report is kept by the same rule, so the PPK still sees
what they asked for after the teacher resubmitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

SUBMITTED, ACCEPTED, NEEDS_FIX = "submitted", "accepted", "needs_fix"
STATES = (SUBMITTED, ACCEPTED, NEEDS_FIX)
LABELS = {SUBMITTED: "Diajukan", ACCEPTED: "Diterima", NEEDS_FIX: "Perlu perbaikan"}


@dataclass(frozen=True)
class ReportState:
    status: str
    at: datetime


def supersedes(current: ReportState | None, incoming: ReportState) -> bool:
    """Whether an event's state replaces the one already recorded for the report."""
    if incoming.status not in STATES:
        raise ValueError(f"unknown daily-report state {incoming.status!r}")
    if current is None:
        return True
    if current.status == ACCEPTED:
        return False
    if incoming.at != current.at:
        return incoming.at > current.at
    return current.status == SUBMITTED and incoming.status != SUBMITTED


def is_newer_note(current_at: datetime | None, incoming_at: datetime) -> bool:
    """Whether a "perlu perbaikan" review replaces the report's latest note."""
    return current_at is None or incoming_at > current_at


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def period_months(year: int, month_start: int, month_end: int) -> list[str]:
    return [f"{year:04d}-{m:02d}" for m in range(month_start, month_end + 1)]


@dataclass(frozen=True)
class ReportCount:
    """How many reports of a teacher in a period are in one state, per month and target
    (``target_id`` is None while only the review of a report has arrived)."""

    month: str
    target_id: str | None
    status: str
    count: int


def _zero() -> dict[str, int]:
    return dict.fromkeys(STATES, 0)


def summarize(months: Iterable[str], targets: list[dict], counts: Iterable[ReportCount]) -> dict:
    """Counts by state overall and per month, each month against its monthly targets.

    ``targets`` are the plan's monthly targets ({target_id, month, item_id, description}). A
    target is "covered" when at least one report against it was accepted. Months are the
    period's, plus any month a target or a report names outside it (shown, not dropped).
    """
    counts = list(counts)
    known = {t["target_id"] for t in targets}
    per_target: dict[str, dict[str, int]] = {t["target_id"]: _zero() for t in targets}
    per_month: dict[str, dict[str, int]] = {m: _zero() for m in months}
    for t in targets:
        per_month.setdefault(t["month"], _zero())
    totals = _zero()
    without_target = 0
    for c in counts:
        totals[c.status] = totals.get(c.status, 0) + c.count
        per_month.setdefault(c.month, _zero())[c.status] += c.count
        if c.target_id in known:
            per_target[c.target_id][c.status] += c.count
        else:
            without_target += c.count
    rows = []
    for month in sorted(per_month):
        month_targets = [t for t in targets if t["month"] == month]
        by_status = per_month[month]
        rows.append({
            "month": month,
            "by_status": by_status,
            "total": sum(by_status.values()),
            "targets": len(month_targets),
            "targets_covered": sum(1 for t in month_targets if per_target[t["target_id"]][ACCEPTED] > 0),
            "target_items": [{"target_id": t["target_id"], "item_id": t.get("item_id"),
                              "description": t.get("description", ""), "by_status": per_target[t["target_id"]]}
                             for t in month_targets],
        })
    return {
        "by_status": totals,
        "total": sum(totals.values()),
        "awaiting_review": totals[SUBMITTED],
        "without_known_target": without_target,
        "months": rows,
    }
