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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from nats.js import JetStreamContext
from sqlalchemy import bindparam, delete, func, update
from sqlmodel import Field, SQLModel, select

from kinerja_shared.correlation import NATS_HEADER
from kinerja_shared.db import SessionFactory
from kinerja_shared.events.envelope import Envelope
from kinerja_shared.logging import get_logger
from kinerja_shared.messaging.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING
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
    ) -> None:
        """``retention_days``: how long published rows are kept (0: forever). None reads
        KINERJA_OUTBOX_RETENTION_DAYS, so the setting holds even where the caller does not
        pass its settings' value."""
        self._session_factory = session_factory
        self._jetstream = jetstream
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        if retention_days is None:
            retention_days = ServiceSettings().outbox_retention_days
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
        and acknowledged one after the other, so a failure stops the batch in order."""
        js = self._jetstream()
        table = OutboxMessage.__table__
        async with self._session_factory() as session:
            connection = await session.connection()
            rows = (
                await connection.execute(
                    select(table.c.id, table.c.event_id, table.c.event_type, table.c.subject, table.c.data,
                           table.c.correlation_id)
                    .where(table.c.sent_at.is_(None))
                    .order_by(table.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            done: list[dict] = []
            try:
                for row in rows:
                    attempt = {"b_id": row.id, "b_sent_at": None, "b_seq": None}
                    done.append(attempt)  # counted as an attempt even when it fails
                    ack = await js.publish(row.subject, row.data.encode(), headers=headers_for(row), timeout=5)
                    attempt["b_sent_at"], attempt["b_seq"] = datetime.now(timezone.utc), ack.seq
                    EVENTS_PUBLISHED.labels(row.event_type).inc()
            finally:
                # Keep what did go out even when a later publish failed.
                if done:
                    await connection.execute(
                        update(table).where(table.c.id == bindparam("b_id")).values(
                            publish_attempts=table.c.publish_attempts + 1,
                            sent_at=func.coalesce(bindparam("b_sent_at", type_=table.c.sent_at.type), table.c.sent_at),
                            stream_seq=func.coalesce(bindparam("b_seq", type_=table.c.stream_seq.type), table.c.stream_seq),
                        ),
                        done,
                    )
                await session.commit()
            published = sum(1 for d in done if d["b_sent_at"] is not None)
            if rows:
                log.debug("outbox.published", count=published)
        return published

    async def pending_count(self) -> int:
        async with self._session_factory() as session:
            count = (
                await session.exec(
                    select(func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.sent_at.is_(None)  # type: ignore[union-attr]
                    )
                )
            ).one()
        OUTBOX_PENDING.set(count)
        return count
