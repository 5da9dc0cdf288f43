"""Protection of BKN from us: a circuit breaker (the rate limit is aiolimiter, see service_layer/sync.py).

The breaker counts consecutive failures that say "BKN is unwell" (5xx, timeouts, dropped or
refused connections). After ``failure_threshold`` of them it OPENS: nothing is sent for
``open_s``. Then it is HALF-OPEN: one probe goes out; success closes it, failure opens it again.
Both take a clock so they can be tested without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# Outcomes that count against BKN's health (a 429 is BKN working as designed, not failing).
FAILURE_OUTCOMES = {"server_error", "timeout", "connection_error"}


class CircuitBreaker:
    def __init__(self, failure_threshold: int, open_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self.clock = clock
        self._state = CLOSED
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.probe_in_flight = False
        self.times_opened = 0

    @property
    def state(self) -> str:
        if self._state == OPEN and self.opened_at is not None and self.clock() - self.opened_at >= self.open_s:
            self._state = HALF_OPEN
        return self._state

    def allowed(self) -> int | None:
        """How many calls may go out now: None = no limit (closed), 1 = a probe, 0 = none."""
        state = self.state
        if state == CLOSED:
            return None
        if state == HALF_OPEN and not self.probe_in_flight:
            return 1
        return 0

    def start_probe(self) -> None:
        if self.state == HALF_OPEN:
            self.probe_in_flight = True

    def record(self, outcome: str) -> None:
        if outcome in FAILURE_OUTCOMES:
            self.consecutive_failures += 1
            if self._state == HALF_OPEN or (self._state == CLOSED and self.consecutive_failures >= self.failure_threshold):
                self._open()
        else:
            self.consecutive_failures = 0
            if self._state in (HALF_OPEN, OPEN):
                self._state, self.opened_at = CLOSED, None
        self.probe_in_flight = False

    def _open(self) -> None:
        self._state, self.opened_at = OPEN, self.clock()
        self.times_opened += 1

    def snapshot(self) -> dict:
        state = self.state
        reopens_in = None
        if state == OPEN and self.opened_at is not None:
            reopens_in = round(max(0.0, self.open_s - (self.clock() - self.opened_at)), 3)
        return {
            "state": state, "consecutive_failures": self.consecutive_failures,
            "times_opened": self.times_opened, "half_open_in_s": reopens_in,
        }
