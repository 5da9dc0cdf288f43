"""The assessment side of a period's policy, as data (``kinerja_assessment/policies/``):
whether the observation must be complete before finalising, the objection window, the annual
roll-up rule, the observation rubric and the distribution curve. A province changes a file, not
code. A period whose policy is unknown here gets pmm-2024's settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

OBSERVATION_MODES = ("always", "if_started", "never")
ANNUAL_RULES = ("terakhir", "terendah", "tahunan")
DEFAULT_POLICY = "pmm-2024"


@dataclass(frozen=True)
class AssessmentPolicy:
    code: str
    observation_required: str
    objection_window_days: int
    annual_rule: str
    periodic_reviews: bool


def _read(name: str) -> dict:
    return json.loads(resources.files("kinerja_assessment.policies").joinpath(name).read_text("utf-8"))


@cache
def policies() -> dict[str, AssessmentPolicy]:
    found = {}
    for code in ("pmm-2024", "ruang-gtk-2025"):
        data = _read(f"{code}.json")
        policy = AssessmentPolicy(
            code=data["code"],
            observation_required=data["observation"]["required"],
            objection_window_days=int(data["objection_window_days"]),
            annual_rule=data["annual_rule"],
            periodic_reviews=bool(data.get("periodic_reviews", False)),
        )
        assert policy.observation_required in OBSERVATION_MODES, policy
        assert policy.annual_rule in ANNUAL_RULES, policy
        found[code] = policy
    return found


def policy_for(code: str | None) -> AssessmentPolicy:
    known = policies()
    return known.get(code or DEFAULT_POLICY, known[DEFAULT_POLICY])


@cache
def observation_rubric() -> dict:
    return _read("observasi.json")


@cache
def distribution_rules() -> dict:
    return _read("distribusi.json")
