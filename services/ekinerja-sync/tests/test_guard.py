"""Circuit breaker and token bucket, on a hand-driven clock."""

from __future__ import annotations

import pytest

from kinerja_ekinerja_sync.domain.guard import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_breaker_opens_after_consecutive_failures_probes_and_closes():
    clock = Clock()
    b = CircuitBreaker(failure_threshold=3, open_s=10, clock=clock)
    b.record("server_error")
    b.record("timeout")
    b.record("acknowledged")  # a success in between resets the count
    b.record("server_error")
    b.record("connection_error")
    assert b.state == CLOSED and b.allowed() is None
    b.record("timeout")
    assert b.state == OPEN and b.allowed() == 0 and b.times_opened == 1
    assert b.snapshot()["half_open_in_s"] == 10
    clock.t += 9.9
    assert b.allowed() == 0
    clock.t += 0.1
    assert b.state == HALF_OPEN and b.allowed() == 1
    b.start_probe()
    assert b.allowed() == 0  # one probe at a time
    b.record("server_error")  # probe failed: open again, for a full period
    assert b.state == OPEN and b.times_opened == 2
    clock.t += 10
    b.start_probe()
    b.record("acknowledged")
    assert b.state == CLOSED and b.allowed() is None and b.consecutive_failures == 0


def test_429_and_rejections_do_not_open_the_breaker():
    b = CircuitBreaker(failure_threshold=2, open_s=10, clock=Clock())
    for outcome in ["rate_limited", "rejected", "rate_limited", "auth_failed", "rejected"]:
        b.record(outcome)
    assert b.state == CLOSED and b.times_opened == 0


def test_token_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate_per_s=10, burst=3, clock=clock)
    assert [bucket.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_take() == pytest.approx(0.1)
    clock.t += 0.25  # 2.5 tokens back
    assert bucket.try_take() == 0.0 and bucket.try_take() == 0.0
    assert bucket.try_take() == pytest.approx(0.05)
    clock.t += 100
    assert bucket.tokens <= 3 and [bucket.try_take() for _ in range(3)] == [0.0] * 3


def test_token_bucket_off_when_rate_is_zero():
    bucket = TokenBucket(rate_per_s=0, burst=1, clock=Clock())
    assert all(bucket.try_take() == 0.0 for _ in range(1000))


async def test_token_bucket_paces_real_calls():
    import time

    bucket = TokenBucket(rate_per_s=50, burst=1)
    started = time.monotonic()
    for _ in range(11):
        await bucket.acquire()
    # 1 from the burst, 10 at 50/s: at least ~0.2 s.
    assert time.monotonic() - started >= 0.18
