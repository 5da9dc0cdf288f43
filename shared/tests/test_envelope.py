import json

import pytest

from kinerja_shared.events import (
    PeriodOpened,
    PoisonMessage,
    make_envelope,
    parse_envelope,
    subject_for,
)


def period() -> PeriodOpened:
    return PeriodOpened(
        period_id="p1", policy="pmm-2024", year=2026, semester=1, name="Semester 1 2026",
        starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6,
    )


def test_round_trip_and_subject():
    env = make_envelope(period(), producer="planning", region="020500", correlation_id="c1")
    parsed, contract = parse_envelope(env.model_dump_json().encode())
    assert contract == period()
    assert parsed.event_id == env.event_id
    assert env.subject() == "kinerja.planning.period.opened.020000.020500"
    assert subject_for("planning.period.opened", "") == "kinerja.planning.period.opened.000000.000000"


def test_unknown_types_are_returned_without_contract():
    env = make_envelope(period(), producer="x", region="020500", correlation_id="c").model_dump(mode="json")
    env["type"] = "planning.something.new"
    parsed, contract = parse_envelope(json.dumps(env).encode())
    assert contract is None and parsed.type == "planning.something.new"


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda d: d.pop("event_id"), "amplop tidak valid"),
        (lambda d: d.update(version=7), "versi 7"),
        (lambda d: d["payload"].pop("year"), "payload planning.period.opened v1 tidak valid"),
        (lambda d: d["payload"].update(extra="x"), "tidak valid"),
    ],
)
def test_poison(mutate, reason):
    doc = make_envelope(period(), producer="x", region="020500", correlation_id="c").model_dump(mode="json")
    mutate(doc)
    with pytest.raises(PoisonMessage, match=reason):
        parse_envelope(json.dumps(doc).encode())


def test_not_json_is_poison():
    with pytest.raises(PoisonMessage):
        parse_envelope(b"\x00\x01 not json")
