"""A consumer that applies a pulled batch of events in ONE transaction.

The shared :class:`EventConsumer` commits once per event. On SQLite with ``synchronous=FULL``
a commit is an fsync (about 280 a second on the benchmark machine), which capped the results
this service could take in far below the 300 a second it must mirror (bench/sync.py). Here a
batch (what one fetch returns, up to ``consumer_batch_size`` messages) is applied with one inbox row per event and one commit,
then every message is acknowledged.

Same guarantees as the shared policy: the batch's inbox rows are claimed first and an event
already there is skipped; anything that goes wrong in the batch (a handler error, ``NotReady``,
a conflicting insert) rolls the whole batch back and each message goes through the shared one-by-one path,
with its nak-with-delay and dead-letter rules. A malformed message is handed to that path
alone (it dead-letters it) and the rest of the batch still goes through together.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from nats.aio.msg import Msg

from kinerja_shared.correlation import accept, set_correlation_id
from kinerja_shared.events.envelope import PoisonMessage, parse_envelope
from kinerja_shared.logging import get_logger
from kinerja_shared.messaging.consumer import EventConsumer
from kinerja_shared.messaging.inbox import claim
from kinerja_shared.messaging.metrics import EVENTS_HANDLED, HANDLER_SECONDS

log = get_logger(__name__)


class BatchedEventConsumer(EventConsumer):
    """Pulls with nats-py itself (not a FastStream subscriber): FastStream's batch loop passes
    ever smaller fetch timeouts and, when one is rejected, drops the batch it collected, which
    then waits ack_wait (30 s) for redelivery. ``fetch(batch, timeout)`` returns what is there
    as soon as something is."""

    def __init__(self, *args, fetch_timeout_s: float = 0.5, before_batch=None, after_batch=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_timeout_s = fetch_timeout_s
        # Optional: load what the handlers need for the whole batch in one query...
        self.before_batch = before_batch
        # ...and write what they collected with one statement, before the inbox rows and commit.
        self.after_batch = after_batch

    async def run(self) -> None:
        """A background task of the runtime (started after the durable consumer is declared)."""
        subscriptions: list = []
        try:
            await self._pull(subscriptions)
        finally:
            # Leave no subscription behind: the broker's drain at stop would wait for it.
            for subscription in subscriptions:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def _pull(self, holder: list) -> None:
        subscription = None
        while True:
            try:
                if subscription is None:
                    subscription = await self._jetstream().pull_subscribe_bind(
                        durable=self.spec.durable, stream=self.spec.stream
                    )
                    holder.append(subscription)
                msgs = await subscription.fetch(self.settings.consumer_batch_size, timeout=self.fetch_timeout_s)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                continue  # nothing new
            except Exception as exc:  # NATS away (reconnecting) or the consumer not there yet
                log.warning("event.fetch_failed", consumer=self.spec.durable, error=f"{type(exc).__name__}: {exc}")
                if subscription is not None:  # bind again once NATS is back
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()
                    holder.remove(subscription)
                    subscription = None
                await asyncio.sleep(1.0)
                continue
            await self.process_batch(msgs)

    async def process_batch(self, msgs: list[Msg]) -> None:
        if len(msgs) == 1:
            await self.process(msgs[0])
            return
        started = time.perf_counter()
        parsed = []
        for msg in msgs:
            try:
                envelope, contract = parse_envelope(msg.data)
            except PoisonMessage:
                await self.process(msg)  # the shared path dead-letters it with the reason
                continue
            parsed.append((msg, envelope, contract))
        outcomes: list[str] = []
        try:
            async with self.uow_factory() as uow:
                # Claim the batch's inbox rows first (see kinerja_shared.messaging.inbox): what is
                # not returned was applied before; an error below rolls the claims back too.
                wanted = {e.event_id: e.type for _, e, c in parsed
                          if c is not None and self.handlers.get(e.type) is not None}
                claimed = await claim(uow.session, self.spec.durable, list(wanted.items()))
                if self.before_batch is not None:
                    await self.before_batch(uow, [c for _, e, c in parsed if e.event_id in claimed])
                for _msg, envelope, contract in parsed:
                    entry = self.handlers.get(envelope.type)
                    if entry is None or contract is None:
                        outcomes.append("skipped")
                        continue
                    if envelope.event_id not in claimed:
                        outcomes.append("duplicate")
                        continue
                    claimed.discard(envelope.event_id)  # the same event twice in one batch
                    structlog.contextvars.bind_contextvars(event_id=envelope.event_id, event_type=envelope.type)
                    set_correlation_id(accept(envelope.correlation_id))
                    uow.causation_id = envelope.event_id
                    await entry[1](contract, envelope, uow)
                    outcomes.append("handled")
                if self.after_batch is not None:
                    await self.after_batch(uow)
                await uow.commit()
        except Exception as exc:  # one event of the batch failed: each goes its own way
            log.warning("event.batch_one_by_one", size=len(parsed), reason=f"{type(exc).__name__}: {exc}")
            for msg, _, _ in parsed:
                await self.process(msg)
            return
        for msg, _, _ in parsed:
            await msg.ack()
        for outcome in outcomes:
            EVENTS_HANDLED.labels(self.spec.durable, outcome).inc()
        HANDLER_SECONDS.labels(self.spec.durable).observe(time.perf_counter() - started)
        log.info("event.batch_handled", size=len(parsed), handled=outcomes.count("handled"))


