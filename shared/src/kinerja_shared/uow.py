"""Unit of work: one transaction for a use case's state change and the events it publishes.

    async with uow_factory() as uow:
        plan = await uow.session.get(Plan, plan_id)
        plan.approve(...)
        uow.publish(PlanApproved(...), region=school.region)
        await uow.commit()

Events are written to the outbox in the same transaction; nothing is published unless the
commit succeeds (no dual writes). An event larger than KINERJA_EVENT_MAX_BYTES is refused by
``publish`` itself (422 ``data_terlalu_besar``): the broker could never take it, so it must
not reach the outbox, and the exception rolls the whole command back.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import insert

from kinerja_shared.correlation import current_correlation_id
from kinerja_shared.db import SessionFactory
from kinerja_shared.events.envelope import Envelope, EventContract, make_envelope
from kinerja_shared.messaging.outbox import OutboxMessage, check_event_size
from kinerja_shared.settings import ServiceSettings


class UnitOfWork:
    def __init__(
        self,
        session_factory: SessionFactory,
        producer: str,
        on_commit: Callable[[], None] | None = None,
        causation_id: str | None = None,
        event_max_bytes: int | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._producer = producer
        self._on_commit = on_commit
        self.causation_id = causation_id
        self._event_max_bytes = event_max_bytes if event_max_bytes is not None else ServiceSettings().event_max_bytes
        self.published: list[Envelope] = []

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.published = []
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.session.rollback()
        await self.session.close()

    def publish(self, payload: EventContract, *, region: str) -> Envelope:
        envelope = make_envelope(
            payload,
            producer=self._producer,
            region=region,
            correlation_id=current_correlation_id(),
            causation_id=self.causation_id,
        )
        row = OutboxMessage.from_envelope(envelope)
        check_event_size(envelope.type, row.data, self._event_max_bytes)
        self.session.add(row)
        self.published.append(envelope)
        return envelope

    async def publish_many(self, items: list[tuple[EventContract, str, str | None]]) -> list[Envelope]:
        """Like :meth:`publish` for many events at once, each ``(payload, region, causation_id)``:
        their outbox rows go in with one INSERT (SQLAlchemy Core, no ORM object per row), in
        the same transaction, in the order given. For hot paths that write hundreds of events
        per transaction."""
        correlation_id = current_correlation_id()
        envelopes = [
            make_envelope(payload, producer=self._producer, region=region, correlation_id=correlation_id,
                          causation_id=causation_id)
            for payload, region, causation_id in items
        ]
        if envelopes:
            rows = [OutboxMessage.row_for(e) for e in envelopes]
            for envelope, row in zip(envelopes, rows):
                check_event_size(envelope.type, row["data"], self._event_max_bytes)
            connection = await self.session.connection()
            await connection.execute(insert(OutboxMessage.__table__), rows)
            self.published.extend(envelopes)
        return envelopes

    async def commit(self) -> None:
        await self.session.commit()
        if self.published and self._on_commit:
            self._on_commit()

    async def rollback(self) -> None:
        await self.session.rollback()


class UnitOfWorkFactory:
    """Makes units of work bound to one service's database and outbox relay."""

    def __init__(
        self,
        session_factory: SessionFactory,
        producer: str,
        on_commit: Callable[[], None] | None = None,
        event_max_bytes: int | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.producer = producer
        self.on_commit = on_commit
        self.event_max_bytes = event_max_bytes if event_max_bytes is not None else ServiceSettings().event_max_bytes

    def __call__(self, causation_id: str | None = None) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.producer, self.on_commit, causation_id,
                          event_max_bytes=self.event_max_bytes)
