"""The correlation id: one id for one user action, carried across HTTP and NATS.

HTTP header ``X-Correlation-ID``; NATS header ``Kinerja-Correlation-Id`` (and in the envelope).

An id from outside (a request header, an event) is taken only when it is 1 to 64 characters
(:data:`kinerja_shared.limits.CORRELATION_ID_MAX`, the outbox column) of letters, digits and
``. _ : - @ / + =`` (UUIDs, ULIDs, W3C trace ids fit). Any other is replaced by a fresh id
rather than refused: the id only traces an action, and the answer's ``X-Correlation-ID`` tells
the caller which one it got. Before, an id over 64 characters made every write a 500 on
PostgreSQL (the outbox row could not take it).
"""

from __future__ import annotations

import contextvars
import re
import uuid

import structlog

from kinerja_shared.limits import CORRELATION_ID_MAX

HTTP_HEADER = "X-Correlation-ID"
NATS_HEADER = "Kinerja-Correlation-Id"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "kinerja_correlation_id", default=None
)


_VALID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{{0,{CORRELATION_ID_MAX - 1}}}")


def new_id() -> str:
    return str(uuid.uuid4())


def is_valid(value: str | None) -> bool:
    return value is not None and _VALID.fullmatch(value) is not None


def accept(value: str | None) -> str:
    """``value`` when it is a valid correlation id, else a fresh one."""
    return value if is_valid(value) else new_id()


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
