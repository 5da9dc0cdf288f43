"""The correlation id: one id for one user action, carried across HTTP and NATS.

HTTP header ``X-Correlation-ID``; NATS header ``Kinerja-Correlation-Id`` (and in the envelope).
"""

from __future__ import annotations

import contextvars
import uuid

import structlog

HTTP_HEADER = "X-Correlation-ID"
NATS_HEADER = "Kinerja-Correlation-Id"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "kinerja_correlation_id", default=None
)


def new_id() -> str:
    return str(uuid.uuid4())


def current_correlation_id() -> str:
    """The id of the action in progress, or a new one if there is none."""
    value = _current.get()
    if value is None:
        value = new_id()
        set_correlation_id(value)
    return value


def set_correlation_id(value: str) -> None:
    _current.set(value)
    structlog.contextvars.bind_contextvars(correlation_id=value)
