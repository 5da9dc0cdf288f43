"""Stopping a background task so that it really stops.

A single ``task.cancel()`` can be lost: on Python 3.11, ``asyncio.wait_for`` returns the awaited
result instead of raising when the cancellation arrives at the moment the awaited thing completes
(CPython gh-86296, fixed in 3.12). Libraries the services use call it (nats-py's request, which
every JetStream publish goes through, among them), so a loop that was publishing when the service
stopped can swallow its one cancellation and run on, hanging the shutdown. ``stop_task`` cancels
again until the task is done.
"""

from __future__ import annotations

import asyncio

from kinerja_shared.logging import get_logger

log = get_logger(__name__)


async def stop_task(task: asyncio.Task, *, retry_every_s: float = 1.0) -> None:
    """Cancel ``task`` (again every ``retry_every_s`` while it runs on) and wait for it. An
    exception it ended with is logged, not raised: the caller is shutting down."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry_every_s)
    if not task.cancelled() and task.exception() is not None:
        log.warning("task.failed", task=task.get_name(), error=str(task.exception()))
