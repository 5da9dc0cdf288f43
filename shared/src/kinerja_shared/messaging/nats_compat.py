"""One fix between two libraries we use: nats-py's pull ``fetch`` can end its wait with a bare
``asyncio.TimeoutError`` (since nats-io/nats.py#934, when the deadline runs out between its two
pull requests, which happens under load), while FastStream's pull subscriber treats only
``nats.errors.TimeoutError`` as "no message this time". The bare one made
FastStream log a traceback and restart the consumer task. ``nats.errors.TimeoutError`` is a
subclass of ``asyncio.TimeoutError``, so turning one into the other keeps every caller right.
Applied once, when ``kinerja_shared.messaging`` is imported.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
from nats.js.client import JetStreamContext

_MARK = "_kinerja_timeout_normalised"


def normalise_timeouts(fetch: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    if getattr(fetch, _MARK, False):
        return fetch

    @functools.wraps(fetch)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fetch(*args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except asyncio.TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    setattr(wrapper, _MARK, True)
    return wrapper


def apply() -> None:
    pull = JetStreamContext.PullSubscription
    pull.fetch = normalise_timeouts(pull.fetch)  # type: ignore[method-assign]
