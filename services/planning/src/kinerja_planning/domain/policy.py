"""Policies as data: what a period looks like under "pmm-2024" or "ruang-gtk-2025".

A policy (``kinerja_planning/policies/<code>.json``) names its periods per year, the default
stage windows of each (month-day pairs), the late-planning deadline, the competency-point
bounds, whether evidence is required and which periodic reviews exist. The rubric
(``rubric.json``) lists the Rapor Pendidikan indicators a plan may take, their sub-indicators
and focus behaviours. A province adds a policy by adding a file, not by changing code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

STAGES = ("perencanaan", "pelaksanaan", "penilaian")
STAGE_LABELS = {"perencanaan": "Perencanaan", "pelaksanaan": "Pelaksanaan", "penilaian": "Penilaian"}


@dataclass(frozen=True)
class PeriodTemplate:
    semester: int | None
    name: str
    month_start: int
    month_end: int
    stages: dict[str, tuple[str, str]]  # stage -> ("MM-DD", "MM-DD")
    late_planning_deadline: str | None  # "MM-DD"


@dataclass(frozen=True)
class Policy:
    code: str
    name: str
    periods: tuple[PeriodTemplate, ...]
    competency_points_min: int
    competency_points_max: int
    competency_points_max_per_activity: int
    evidence_required: bool
    periodic_reviews: tuple[str, ...]
    monthly_targets_required: bool

    def template(self, semester: int | None) -> PeriodTemplate | None:
        return next((t for t in self.periods if t.semester == semester), None)


@dataclass(frozen=True)
class Indicator:
    code: str
    title: str
    focus_behaviours: tuple[str, ...]
    parent: str | None = None


@dataclass(frozen=True)
class Rubric:
    indicators: dict[str, Indicator]  # indicators and sub-indicators, by code
    principal_indicator: str
    competency_activities: dict[str, str]

    def top_level(self, code: str) -> str:
        """The indicator a code belongs to ("D.1.2" -> "D.1")."""
        indicator = self.indicators.get(code)
        return indicator.parent or code if indicator else code


def _policy_from(data: dict) -> Policy:
    points = data["competency_points"]
    return Policy(
        code=data["code"],
        name=data["name"],
        periods=tuple(
            PeriodTemplate(
                semester=p["semester"], name=p["name"], month_start=p["month_start"],
                month_end=p["month_end"],
                stages={s: (w[0], w[1]) for s, w in p["stages"].items()},
                late_planning_deadline=p.get("late_planning_deadline"),
            )
            for p in data["periods"]
        ),
        competency_points_min=points["min"],
        competency_points_max=points["max"],
        competency_points_max_per_activity=points["max_per_activity"],
        evidence_required=data["evidence_required"],
        periodic_reviews=tuple(data.get("periodic_reviews", [])),
        monthly_targets_required=data.get("monthly_targets_required", True),
    )


def _read(name: str) -> dict:
    return json.loads(resources.files("kinerja_planning.policies").joinpath(name).read_text("utf-8"))


@cache
def policies() -> dict[str, Policy]:
    found = {}
    for entry in resources.files("kinerja_planning.policies").iterdir():
        if entry.name.endswith(".json") and entry.name != "rubric.json":
            policy = _policy_from(json.loads(entry.read_text("utf-8")))
            found[policy.code] = policy
    return found


@cache
def rubric() -> Rubric:
    data = _read("rubric.json")
    indicators: dict[str, Indicator] = {}
    for code, item in data["indicators"].items():
        indicators[code] = Indicator(code, item["title"], tuple(item.get("focus_behaviours", [])))
        for sub_code, sub in item.get("sub", {}).items():
            indicators[sub_code] = Indicator(
                sub_code, sub["title"], tuple(sub.get("focus_behaviours", [])), parent=code
            )
    return Rubric(indicators, data["principal_indicator"], dict(data["competency_activities"]))
