"""Consuming events: envelope check, inbox, and the acknowledgement policy.

FastStream's NATS default terminates a message on any exception, which loses it on a
transient fault. Here every subscriber uses manual acknowledgement and this policy:

- handled (or already in the inbox, which is claimed before the handler runs): ack;
- a type this consumer does not handle: ack (it is someone else's);
- a malformed envelope, an unknown version, a payload that does not validate
  (:class:`PoisonMessage`): moved to ``kinerja.deadletter.<consumer>`` with the reason, then ack;
- a prerequisite that has not arrived yet (:class:`NotReady`) or any other error: nak with an
  exponential delay; after ``consumer_max_deliveries`` deliveries, moved to the dead-letter
  subject with the last reason.

Nothing is ever terminated silently: a message is acked only once it is applied, skipped on
purpose, or safely stored as a dead letter an operator can list and replay (``kinerja-dlq``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from kinerja_shared.correlation import accept, set_correlation_id
from kinerja_shared.events.envelope import Envelope, EventContract, PoisonMessage, parse_envelope
from kinerja_shared.logging import get_logger
from kinerja_shared.messaging.inbox import claim
from kinerja_shared.messaging.metrics import EVENTS_HANDLED, HANDLER_SECONDS
from kinerja_shared.messaging.nats_auth import inbox_prefix, user_of
from kinerja_shared.messaging.outbox import EventTooLarge
from kinerja_shared.messaging.streams import ConsumerSpec, dead_letter_subject
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

log = get_logger(__name__)

Handler = Callable[[Any, Envelope, UnitOfWork], Awaitable[None]]

DLQ_REASON = "Kinerja-Dead-Letter-Reason"
DLQ_CONSUMER = "Kinerja-Dead-Letter-Consumer"
DLQ_SUBJECT = "Kinerja-Original-Subject"
DLQ_STREAM_SEQ = "Kinerja-Original-Stream-Seq"
DLQ_DELIVERIES = "Kinerja-Deliveries"


class NotReady(Exception):
    """A prerequisite event has not been applied yet; try again later."""


class EventConsumer:
    def __init__(
        self,
        spec: ConsumerSpec,
        handlers: dict[type[EventContract], Handler],
        uow_factory: UnitOfWorkFactory,
        settings: ServiceSettings,
    ) -> None:
        self.spec = spec
        self.handlers = {c.event_type(): (c, h) for c, h in handlers.items()}
        self.uow_factory = uow_factory
        self.settings = settings
        self._jetstream: Callable[[], JetStreamContext] | None = None

    def attach(self, broker: NatsBroker) -> None:
        """Bind a FastStream pull subscriber to the (already declared) durable consumer."""
        # The connection exists only once the broker has started: look it up when needed.
        self._jetstream = lambda: broker.connection.jetstream()

        @broker.subscriber(
            self.spec.filter_subjects[0],
            stream=JStream(self.spec.stream, declare=False),
            durable=self.spec.durable,
            pull_sub=PullSub(batch_size=self.settings.consumer_batch_size, timeout=1.0),
            # The user's own inbox (FastStream's default is the shared _INBOX., which no
            # user may subscribe to: nats_auth).
            inbox_prefix=f"{inbox_prefix(user_of(self.settings))}.".encode(),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_bytes,
            title=f"{self.spec.durable}",
            description=f"consumes {', '.join(sorted(self.handlers))}",
        )
        async def _on_message(body: bytes, msg: NatsMessage) -> None:
            await self.process(msg.raw_message)

    def use_jetstream(self, jetstream: Callable[[], JetStreamContext]) -> None:
        self._jetstream = jetstream

    async def process(self, msg: Msg) -> str:
        """Apply one message and settle it. Returns the outcome (for metrics and tests)."""
        deliveries = msg.metadata.num_delivered if msg.metadata else 1
        structlog.contextvars.unbind_contextvars("event_id", "event_type", "subject")
        structlog.contextvars.bind_contextvars(subject=msg.subject)
        started = time.perf_counter()
        try:
            outcome = await self._apply(msg)
            await msg.ack()
        except (PoisonMessage, EventTooLarge) as exc:  # no retry can make the event smaller
            outcome = await self._dead_letter(msg, str(exc), deliveries)
        except Exception as exc:  # transient, or NotReady: try again later, boundedly
            reason = f"{type(exc).__name__}: {exc}"
            if deliveries >= self.settings.consumer_max_deliveries:
                outcome = await self._dead_letter(
                    msg, f"gagal setelah {deliveries} kali pengiriman: {reason}", deliveries
                )
            else:
                delay = min(
                    self.settings.consumer_backoff_base_s * 2 ** (deliveries - 1),
                    self.settings.consumer_backoff_max_s,
                )
                log.warning("event.retry", reason=reason, deliveries=deliveries, delay_s=delay)
                await msg.nak(delay=delay)
                outcome = "retry"
        EVENTS_HANDLED.labels(self.spec.durable, outcome).inc()
        HANDLER_SECONDS.labels(self.spec.durable).observe(time.perf_counter() - started)
        return outcome

    async def _apply(self, msg: Msg) -> str:
        envelope, contract = parse_envelope(msg.data)
        structlog.contextvars.bind_contextvars(
            event_id=envelope.event_id, event_type=envelope.type
        )
        # From another producer: a bad id (too long for our outbox) is replaced, not carried on.
        set_correlation_id(accept(envelope.correlation_id))
        return await self.apply(envelope, contract)

    async def apply(self, envelope: Envelope, contract: Any) -> str:
        """Claim the event in the inbox and run its handler, in one transaction. Returns
        "handled", "duplicate" or "skipped"; raises what the handler raises (the caller naks).
        Property tests of the read models drive this directly, in any order and concurrently."""
        entry = self.handlers.get(envelope.type)
        if entry is None or contract is None:
            log.debug("event.skipped")
            return "skipped"
        _, handler = entry
        async with self.uow_factory(causation_id=envelope.event_id) as uow:
            # Claimed first: only a clash on (consumer, event_id) means "already applied". Any
            # other error below, an IntegrityError at commit included, is retried (nak).
            if not await claim(uow.session, self.spec.durable, [(envelope.event_id, envelope.type)]):
                log.info("event.duplicate")
                return "duplicate"
            await handler(contract, envelope, uow)
            await uow.commit()
        log.info("event.handled")
        return "handled"

    async def _dead_letter(self, msg: Msg, reason: str, deliveries: int) -> str:
        if self._jetstream is None:
            raise RuntimeError("consumer not attached to a broker")
        seq = str(msg.metadata.sequence.stream) if msg.metadata else "0"
        headers = {
            "Nats-Msg-Id": f"dlq:{self.spec.durable}:{seq}",
            DLQ_REASON: reason[:1000],
            DLQ_CONSUMER: self.spec.durable,
            DLQ_SUBJECT: msg.subject,
            DLQ_STREAM_SEQ: seq,
            DLQ_DELIVERIES: str(deliveries),
        }
        # Store the dead letter before letting go of the original: if this publish fails the
        # exception propagates, the message is not acked and will be delivered again.
        await self._jetstream().publish(
            dead_letter_subject(self.spec.durable), msg.data, headers=headers, timeout=5
        )
        await msg.ack()
        log.error("event.dead_lettered", reason=reason, deliveries=deliveries)
        return "dead_lettered"


async def _raw_bytes(msg: NatsMessage) -> bytes:
    """Hand the handler the raw bytes: parsing and its errors belong to the policy above."""
    return msg.body
