"""Outcome classification, Retry-After and backoff (pure, no servers)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from kinerja_ekinerja_sync.domain.outcomes import (
    backoff_s,
    classify_response,
    classify_unreachable,
    parse_retry_after,
    retry_delay_s,
)


def test_2xx_with_an_id_is_acknowledged():
    o = classify_response(200, "Data berhasil disimpan", record_id="abc")
    assert (o.kind, o.outcome, o.ekinerja_record_id, o.responsible_actor) == ("acknowledged", "acknowledged", "abc", None)


def test_2xx_without_an_id_is_retried_as_ambiguous():
    o = classify_response(200, "ok")
    assert o.kind == "retry" and o.ambiguous


def test_429_retries_after_retry_after_and_is_not_ambiguous():
    o = classify_response(429, "Terlalu banyak", retry_after="7")
    assert (o.kind, o.outcome, o.retry_after_s, o.ambiguous, o.responsible_actor) == ("retry", "rate_limited", 7.0, False, "bkn")
    assert retry_delay_s(o, attempt=5, base_s=0.5, max_s=60) == 7.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_5xx_is_retried_and_ambiguous_blaming_bkn(status):
    o = classify_response(status, "")
    assert (o.kind, o.ambiguous, o.responsible_actor, o.http_status) == ("retry", True, "bkn", status)
    assert o.message  # never empty in the log


def test_timeouts_and_dropped_connections():
    t = classify_unreachable("timeout", "POST /kinerjaperiodik/save: ReadTimeout")
    c = classify_unreachable("connection", "POST /kinerjaperiodik/save: ConnectError")
    assert (t.kind, t.ambiguous, t.responsible_actor, t.http_status) == ("retry", True, "bkn", None)
    assert (c.kind, c.ambiguous, c.responsible_actor, c.outcome) == ("retry", True, "sistem", "connection_error")


@pytest.mark.parametrize(
    "message, actor",
    [
        ("NIP tidak ditemukan di SIASN", "bkd"),
        ("Data SKP Organisasi belum dibuat oleh atasan", "operator_sekolah"),
        ("Unor di PMM belum padan", "operator_dinas"),
        ("koefisienId '9' tidak ada di referensi koefisien", "sistem"),
        ("Sesuatu yang lain", "operator_dinas"),
    ],
)
def test_rejections_are_parked_with_the_actor_who_must_act(message, actor):
    o = classify_response(400, message)
    assert (o.kind, o.outcome, o.message, o.responsible_actor, o.ambiguous) == ("parked", "rejected", message, actor, False)


def test_refused_credentials_retry_and_name_the_dinas_operator():
    o = classify_response(401, "Token SSO tidak valid")
    assert (o.kind, o.responsible_actor) == ("retry", "operator_dinas")


def test_retry_after_as_seconds_or_http_date():
    now = datetime(2026, 6, 30, 8, 0, tzinfo=timezone.utc)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling():
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 60.0), (30, 60.0)]:
        delays = [backoff_s(attempt, 0.5, 60.0, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter: replicas do not retry in step
    o = classify_response(503, "")
    assert 1.0 <= retry_delay_s(o, 3, 0.5, 60.0, rng) <= 2.0
