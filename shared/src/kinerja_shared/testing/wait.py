"""Waiting for something that happens asynchronously (an event crossing services)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = 15.0,
    what: str = "condition",
    interval: float = 0.05,
) -> T:
    """Await ``predicate()`` until it returns something truthy; fail the test after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout}s (last: {last!r})")
