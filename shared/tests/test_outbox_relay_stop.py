"""The outbox relay stops when asked, even when stop() lands at the moment a commit wakes it.

On Python 3.11 ``asyncio.wait_for`` returns the awaited result instead of raising when a
cancellation arrives just as the awaited thing completes (CPython gh-86296); the relay used it
to sleep between polls, missed stop()'s one cancellation and ran on, so a service's shutdown
(and a test fixture's teardown) hung. No server needed: the publishing is stubbed out."""

from __future__ import annotations

import asyncio

from kinerja_shared.messaging.outbox import OutboxRelay


async def stopped_within(relay: OutboxRelay, seconds: float) -> bool:
    """Whether stop() returns in time. Not wait_for: cancelling a stop() that waits for the relay
    task would cancel the relay a second time and hide a lost first cancellation."""
    task = relay._task
    stopping = asyncio.create_task(relay.stop())
    done, _ = await asyncio.wait({stopping}, timeout=seconds)
    if stopping not in done and task is not None:  # clean up after a failure
        task.cancel()
        await asyncio.wait({stopping}, timeout=seconds)
    return stopping in done


class IdleRelay(OutboxRelay):
    def __init__(self) -> None:
        super().__init__(session_factory=None, jetstream=lambda: None, poll_interval_s=0.5)  # type: ignore[arg-type]
        self.polls = 0

    async def publish_pending(self) -> int:
        self.polls += 1
        return 0


async def test_stop_as_a_commit_wakes_the_relay_does_not_hang():
    for settle in range(4):  # cancel 0..3 loop turns after the wake-up: every step of it
        relay = IdleRelay()
        relay.start()
        await asyncio.sleep(0.05)  # idle, sleeping until the next poll
        relay.notify()  # a commit wrote outbox rows ...
        for _ in range(settle):
            await asyncio.sleep(0)
        assert await stopped_within(relay, 3), f"stop() hung ({settle} loop turns after the wake-up)"
        assert relay._task is None


async def test_stop_while_idle_and_twice():
    relay = IdleRelay()
    relay.start()
    await asyncio.sleep(0.05)
    assert await stopped_within(relay, 3)
    await relay.stop()  # nothing left to stop
    assert relay.polls >= 1
