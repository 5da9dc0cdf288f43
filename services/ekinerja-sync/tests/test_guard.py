"""The circuit breaker on a hand-driven clock; the rate limit toward BKN on the real one."""

from __future__ import annotations

from kinerja_ekinerja_sync.domain.guard import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from kinerja_ekinerja_sync.service_layer.sync import bkn_rate_limit


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


async def test_the_rate_limit_toward_bkn_allows_a_burst_then_paces_calls():
    import time

    limit = bkn_rate_limit(rate_per_s=50, burst=3)
    started = time.monotonic()
    for _ in range(3):
        await limit.acquire()
    burst_s = time.monotonic() - started
    for _ in range(10):
        await limit.acquire()
    # 3 at once from the burst, then 10 more at 50/s: at least ~0.2 s in all.
    assert burst_s < 0.1 and time.monotonic() - started >= 0.18


async def test_no_rate_limit_when_the_rate_is_zero():
    limit = bkn_rate_limit(rate_per_s=0, burst=1)
    for _ in range(1000):
        await limit.acquire()  # never waits
