"""Transactional outbox and its relay.

A use case writes its state change and its outgoing events in one database transaction
(:class:`kinerja_shared.uow.UnitOfWork` does it). The relay publishes pending rows to
JetStream with ``Nats-Msg-Id`` = event id, so a row published twice (relay died between
publish and marking it sent) is dropped by the server's de-duplication window, then marks the
row sent. Order is kept per relay: rows go out in the order they were written.

With several replicas on PostgreSQL the relay locks its batch with ``FOR UPDATE SKIP LOCKED``
so two relays never publish the same rows at once.

Published rows are kept ``KINERJA_OUTBOX_RETENTION_DAYS`` (7 by default), then deleted by
:func:`purge_published`, which the relay runs at most once an hour while it has nothing to
publish. Until then ``kinerja-outbox replay`` (:mod:`kinerja_shared.messaging.replay`) can
publish them again when a NATS host has lost what it acknowledged. Unsent rows are never purged.

A row NATS cannot take would otherwise block every row after it for good (the relay keeps the
order, so it retries the head forever). The relay *parks* such a row instead: ``parked_at`` and
``parked_reason`` are set, and the rows after it go out. Parked are: a row larger than the
server's ``max_payload`` (headers included), one the server refuses as a bad request, and one
that has failed ``KINERJA_OUTBOX_MAX_ATTEMPTS`` times while NATS was connected. Failures while
NATS is away are not counted: the outage is not the row's fault. Failures a stream election also
gives (no response from the stream, no responders, a PubAck timeout) park a row only once it has
also been failing for ``KINERJA_OUTBOX_PARK_AFTER_S``. Parked rows are shown by the
``kinerja_outbox_parked`` gauge and the ``outbox`` detail of ``/health/ready``, listed by
``kinerja-outbox parked`` and put back in line by ``kinerja-outbox unpark``. Parking gives up
the order for that one row: the rows after it reach consumers before it does (if ever).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError
from sqlalchemy import bindparam, delete, func, update
from sqlmodel import Field, SQLModel, select

from kinerja_shared.correlation import NATS_HEADER
from kinerja_shared.db import SessionFactory
from kinerja_shared.events.envelope import Envelope
from kinerja_shared.logging import get_logger
from kinerja_shared.errors import AppError
from kinerja_shared.messaging.metrics import EVENTS_PUBLISHED, OUTBOX_PARKED, OUTBOX_PENDING
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.tasks import stop_task

log = get_logger(__name__)

EVENT_TYPE_HEADER = "Kinerja-Event-Type"
EVENT_VERSION_HEADER = "Kinerja-Event-Version"

PURGE_INTERVAL_S = 3600.0
PURGE_BATCH_SIZE = 1000
# Batches the relay deletes per idle turn: a large backlog of old rows (the first purge after
# an upgrade) is worked off between publishes instead of holding publishing up.
PURGE_BATCHES_PER_TURN = 10


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_messages"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=64)
    event_type: str = Field(max_length=128)
    subject: str = Field(max_length=255)
    data: str
    correlation_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    sent_at: datetime | None = Field(default=None, index=True)
    stream_seq: int | None = None
    publish_attempts: int = 0
    # Set by the relay when NATS cannot take the row (see the module's docstring).
    parked_at: datetime | None = None
    parked_reason: str | None = Field(default=None, max_length=255)

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> OutboxMessage:
        return cls(
            event_id=envelope.event_id,
            event_type=envelope.type,
            subject=envelope.subject(),
            data=envelope.model_dump_json(),
            correlation_id=envelope.correlation_id,
        )

    @staticmethod
    def row_for(envelope: Envelope) -> dict:
        """The row's values for a Core INSERT (what :meth:`from_envelope` makes, without an
        ORM object)."""
        return {
            "event_id": envelope.event_id,
            "event_type": envelope.type,
            "subject": envelope.subject(),
            "data": envelope.model_dump_json(),
            "correlation_id": envelope.correlation_id,
            "created_at": datetime.now(timezone.utc),
            "sent_at": None,
            "stream_seq": None,
            "publish_attempts": 0,
            "parked_at": None,
            "parked_reason": None,
        }

    def headers(self) -> dict[str, str]:
        envelope = json.loads(self.data)
        return {
            "Nats-Msg-Id": self.event_id,
            EVENT_TYPE_HEADER: self.event_type,
            EVENT_VERSION_HEADER: str(envelope["version"]),
            NATS_HEADER: self.correlation_id,
        }


def headers_for(row) -> dict[str, str]:
    """The headers an outbox row is published with (the relay and `kinerja-outbox replay`)."""
    return {
        "Nats-Msg-Id": row.event_id,
        EVENT_TYPE_HEADER: row.event_type,
        EVENT_VERSION_HEADER: str(json.loads(row.data)["version"]),
        NATS_HEADER: row.correlation_id,
    }


class EventTooLarge(AppError):
    """422 ``data_terlalu_besar``: the command would write an event larger than
    KINERJA_EVENT_MAX_BYTES. Raised before anything is written (the unit of work rolls back)."""

    status_code = 422

    def __init__(self, event_type: str, size: int, max_bytes: int) -> None:
        super().__init__(
            "data_terlalu_besar",
            f"Data terlalu besar untuk diproses sekaligus: peristiwa {event_type} berukuran {size} byte, "
            f"batasnya {max_bytes} byte. Kirim data yang lebih kecil (misalnya dibagi per sekolah).",
            f"Too much data for one command: the {event_type} event would be {size} bytes, the limit is "
            f"{max_bytes} bytes. Send less at once.",
            details={"event_type": event_type, "bytes": size, "max_bytes": max_bytes},
        )


def check_event_size(event_type: str, data: str, max_bytes: int) -> None:
    """Refuse an event whose serialized envelope is over ``max_bytes`` (KINERJA_EVENT_MAX_BYTES)."""
    # Cheap first test: a str's UTF-8 length is at most 4 bytes per character.
    if len(data) * 4 > max_bytes and (size := len(data.encode())) > max_bytes:
        raise EventTooLarge(event_type, size, max_bytes)


def message_size(row) -> int:
    """What the server counts against max_payload: the payload and the NATS/1.0 header block."""
    headers = headers_for(row)
    header_bytes = len("NATS/1.0\r\n\r\n") + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())
    return len(row.data.encode()) + header_bytes


# Errors that mean "NATS will never take this message": park the row at once.
_PERMANENT = (nats.errors.MaxPayloadError, nats.errors.BadSubjectError, nats.errors.BadHeaderError)
# Errors that mean "not connected right now": not the row's fault, not counted.
_DISCONNECTED = (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError,
                 nats.errors.OutboundBufferLimitError, nats.errors.StaleConnectionError,
                 nats.errors.ConnectionDrainingError)
# Errors that also come while a stream has no leader (a JetStream election after a node loss) or
# does not answer in time: counted, but they park a row only once it has been failing for
# KINERJA_OUTBOX_PARK_AFTER_S. Counted alone, 30 quick retries parked a healthy row within 6 s
# of a node kill (chaos).
_MAYBE_TRANSIENT = (NoStreamResponseError, nats.errors.NoRespondersError, nats.errors.TimeoutError,
                    asyncio.TimeoutError)


def _park_reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:255]


async def purge_published(
    session_factory: SessionFactory,
    older_than: timedelta,
    *,
    batch_size: int = PURGE_BATCH_SIZE,
    max_batches: int | None = None,
) -> int:
    """Delete rows published more than ``older_than`` ago; return how many.

    Each batch is its own short transaction (``DELETE ... WHERE id IN (SELECT id ... ORDER BY
    sent_at LIMIT n)``, on the sent_at index; the same statement on SQLite and PostgreSQL), so
    neither database holds a long lock. Rows with no ``sent_at`` (not yet published) never
    match. ``max_batches`` bounds one call; None deletes until nothing is left."""
    table = OutboxMessage.__table__
    cutoff = datetime.now(timezone.utc) - older_than
    oldest = (
        select(table.c.id)
        .where(table.c.sent_at.is_not(None), table.c.sent_at < cutoff)
        .order_by(table.c.sent_at)
        .limit(batch_size)
    )
    total = batches = 0
    while max_batches is None or batches < max_batches:
        async with session_factory() as session:
            connection = await session.connection()
            result = await connection.execute(delete(table).where(table.c.id.in_(oldest)))
            await session.commit()
        deleted = result.rowcount or 0
        total += deleted
        batches += 1
        if deleted < batch_size:
            break
    return total


class OutboxRelay:
    def __init__(
        self,
        session_factory: SessionFactory,
        jetstream: Callable[[], JetStreamContext],
        *,
        batch_size: int = 200,
        poll_interval_s: float = 0.5,
        retention_days: float | None = None,
        purge_interval_s: float = PURGE_INTERVAL_S,
        max_attempts: int | None = None,
        park_after_s: float | None = None,
    ) -> None:
        """``retention_days``: how long published rows are kept (0: forever). None reads
        KINERJA_OUTBOX_RETENTION_DAYS, so the setting holds even where the caller does not
        pass its settings' value. ``max_attempts``: failed publishes (NATS connected) after
        which a row is parked; None reads KINERJA_OUTBOX_MAX_ATTEMPTS. ``park_after_s``: for
        errors a stream election also gives, how long a row must have been failing (in this
        process) as well; None reads KINERJA_OUTBOX_PARK_AFTER_S."""
        self._session_factory = session_factory
        self._jetstream = jetstream
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        if retention_days is None or max_attempts is None or park_after_s is None:
            defaults = ServiceSettings()
            retention_days = defaults.outbox_retention_days if retention_days is None else retention_days
            max_attempts = defaults.outbox_max_attempts if max_attempts is None else max_attempts
            park_after_s = defaults.outbox_park_after_s if park_after_s is None else park_after_s
        self._max_attempts = max(1, max_attempts)
        self._park_after_s = park_after_s
        self._failing_since: dict[int, float] = {}  # row id -> loop time of its first failure here
        self._retention_days = retention_days
        self._retention = timedelta(days=retention_days) if retention_days > 0 else None
        self._purge_interval_s = purge_interval_s
        self._next_purge = 0.0  # loop time; the first idle turn purges
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def notify(self) -> None:
        """Called after a commit that wrote outbox rows: publish now rather than at next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # Cancelled until it has stopped: a relay stopped while publishing can lose one
            # cancellation (see kinerja_shared.tasks) and would run on, hanging the shutdown.
            await stop_task(task)

    async def _run(self) -> None:
        backoff = self._poll_interval_s
        while True:
            try:
                published = await self.publish_pending()
                backoff = self._poll_interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS or the database away: keep the rows, try later
                log.warning("outbox.publish_failed", error=str(exc))
                published = 0
                backoff = min(backoff * 2, 10.0)
            if published < self._batch_size:
                await self._purge_if_due()
                # Sleep until the next poll, or until a commit in this process wakes us.
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a stop() that
                # cancels just as a commit wakes us (see kinerja_shared.tasks).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._wake.wait()
                self._wake.clear()

    async def _purge_if_due(self) -> None:
        """Run :func:`purge_published` when the interval has passed; only while caught up, so
        publishing always comes first."""
        now = asyncio.get_running_loop().time()
        if self._retention is None or now < self._next_purge:
            return
        try:
            deleted = await purge_published(
                self._session_factory, self._retention, max_batches=PURGE_BATCHES_PER_TURN
            )
        except Exception as exc:  # the database away: the rows wait, try again soon
            log.warning("outbox.purge_failed", error=str(exc))
            self._next_purge = now + min(self._purge_interval_s, 60.0)
            return
        if deleted:
            log.info("outbox.purged", count=deleted, retention_days=self._retention_days)
        more = deleted >= PURGE_BATCHES_PER_TURN * PURGE_BATCH_SIZE
        self._next_purge = now if more else now + self._purge_interval_s

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; return how many went out.

        Rows are read and marked with SQLAlchemy Core (one UPDATE for the batch), not as ORM
        objects: the relay runs for every event a service writes. Each row is still published
        and acknowledged one after the other, so a failure stops the batch in order; a row NATS
        cannot take is parked and the batch goes on."""
        js = self._jetstream()
        nc = getattr(js, "_nc", None)
        table = OutboxMessage.__table__
        async with self._session_factory() as session:
            connection = await session.connection()
            rows = (
                await connection.execute(
                    select(table.c.id, table.c.event_id, table.c.event_type, table.c.subject, table.c.data,
                           table.c.correlation_id, table.c.publish_attempts)
                    .where(table.c.sent_at.is_(None), table.c.parked_at.is_(None))
                    .order_by(table.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            done: list[dict] = []
            parked = 0
            try:
                for row in rows:
                    attempt = {"b_id": row.id, "b_sent_at": None, "b_seq": None, "b_parked_at": None,
                               "b_parked_reason": None}
                    done.append(attempt)  # counted as an attempt even when it fails
                    max_payload = getattr(nc, "max_payload", None)
                    if isinstance(max_payload, int) and (size := message_size(row)) > max_payload:
                        # The server would refuse it (and drop our connection); the client's own
                        # check ignores the headers.
                        reason = f"payload_terlalu_besar: {size} byte > max_payload {max_payload}"
                        self._park(attempt, row, reason)
                        parked += 1
                        continue
                    try:
                        ack = await js.publish(row.subject, row.data.encode(), headers=headers_for(row), timeout=5)
                    except Exception as exc:
                        connected = nc is None or getattr(nc, "is_connected", True)
                        if isinstance(exc, _DISCONNECTED) or not connected:
                            done.pop()  # NATS away: not this row's fault, not counted
                            raise
                        now = asyncio.get_running_loop().time()
                        failing_for = now - self._failing_since.setdefault(row.id, now)
                        transient = isinstance(exc, _MAYBE_TRANSIENT) or (
                            isinstance(exc, APIError) and exc.code == 503)
                        if (isinstance(exc, _PERMANENT)
                                or (isinstance(exc, APIError) and exc.code == 400)
                                or (row.publish_attempts + 1 >= self._max_attempts
                                    and (not transient or failing_for >= self._park_after_s))):
                            self._failing_since.pop(row.id, None)
                            self._park(attempt, row, _park_reason(exc))
                            parked += 1
                            continue
                        raise
                    attempt["b_sent_at"], attempt["b_seq"] = datetime.now(timezone.utc), ack.seq
                    self._failing_since.pop(row.id, None)
                    EVENTS_PUBLISHED.labels(row.event_type).inc()
            finally:
                # Keep what did go out even when a later publish failed.
                if done:
                    await connection.execute(
                        update(table).where(table.c.id == bindparam("b_id")).values(
                            publish_attempts=table.c.publish_attempts + 1,
                            sent_at=func.coalesce(bindparam("b_sent_at", type_=table.c.sent_at.type), table.c.sent_at),
                            stream_seq=func.coalesce(bindparam("b_seq", type_=table.c.stream_seq.type), table.c.stream_seq),
                            parked_at=func.coalesce(bindparam("b_parked_at", type_=table.c.parked_at.type),
                                                    table.c.parked_at),
                            parked_reason=func.coalesce(
                                bindparam("b_parked_reason", type_=table.c.parked_reason.type), table.c.parked_reason),
                        ),
                        done,
                    )
                await session.commit()
            published = sum(1 for d in done if d["b_sent_at"] is not None)
            if rows:
                log.debug("outbox.published", count=published)
        if parked:
            await self.parked_count()
        # A batch that only parked rows made progress too: go on at once.
        return published + parked

    def _park(self, attempt: dict, row, reason: str) -> None:
        attempt["b_parked_at"], attempt["b_parked_reason"] = datetime.now(timezone.utc), reason
        log.error("outbox.parked", event_id=row.event_id, event_type=row.event_type, subject=row.subject,
                  reason=reason, hint="kinerja-outbox parked / unpark")

    async def pending_count(self) -> int:
        """Rows waiting to be published (not parked); sets the kinerja_outbox_pending gauge."""
        async with self._session_factory() as session:
            count = (
                await session.exec(
                    select(func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.sent_at.is_(None),  # type: ignore[union-attr]
                        OutboxMessage.parked_at.is_(None),  # type: ignore[union-attr]
                    )
                )
            ).one()
        OUTBOX_PENDING.set(count)
        return count

    async def parked_count(self) -> int:
        """Rows parked and not yet published; sets the kinerja_outbox_parked gauge."""
        async with self._session_factory() as session:
            count = (
                await session.exec(
                    select(func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.sent_at.is_(None),  # type: ignore[union-attr]
                        OutboxMessage.parked_at.is_not(None),  # type: ignore[union-attr]
                    )
                )
            ).one()
        OUTBOX_PARKED.set(count)
        return count

    async def state(self) -> str:
        """The ``outbox`` detail of /health/ready (refreshes both gauges): e.g. ``tertunda 0,
        diparkir 1``. Never fails readiness: a parked row needs an operator, not a restart."""
        return f"tertunda {await self.pending_count()}, diparkir {await self.parked_count()}"
