"""The inbox is claimed before the handler runs, so only a clash on (consumer, event id) means
"duplicate". Against real NATS JetStream messages and real databases (SQLite, PostgreSQL).

Before the claim came first, the consumer took *any* IntegrityError at commit for "another
replica applied this event first" and acknowledged it: two different events of one aggregate
that inserted the same row lost the second one silently.
"""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
from sqlmodel import Field, SQLModel, select

from kinerja_shared.events import PeriodOpened, make_envelope
from kinerja_shared.messaging.consumer import EventConsumer
from kinerja_shared.messaging.inbox import InboxMessage
from kinerja_shared.messaging.streams import ConsumerSpec, ensure_consumer, ensure_streams
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.servers import nats_client_options


class ClaimedRow(SQLModel, table=True):
    __tablename__ = "test_claimed_rows"
    key: str = Field(primary_key=True)
    event_id: str


def period(pid: str) -> PeriodOpened:
    return PeriodOpened(
        period_id=pid, policy="pmm-2024", year=2026, semester=1, name="Semester 1 2026",
        starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6,
    )


@pytest.fixture
async def harness(nats_factory, database_url):
    server = nats_factory().start()
    settings = ServiceSettings(service_name="planning", database_url=database_url, nats_url=server.url,
                               consumer_max_deliveries=5, consumer_backoff_base_s=0.05)
    runtime = ServiceRuntime(settings, tables=[ClaimedRow.__table__])
    await runtime.start()  # tables, streams; no consumer attached to the broker
    nc = await nats.connect(**nats_client_options(server.url))
    js = nc.jetstream()
    await ensure_streams(js, settings)
    entered = asyncio.Event()
    release = asyncio.Event()
    handled: list[str] = []

    async def on_period(event: PeriodOpened, envelope, uow):
        handled.append(envelope.event_id)
        if event.name == "hold":  # keep this handler's transaction open until released
            entered.set()
            await release.wait()
        uow.session.add(ClaimedRow(key=event.period_id, event_id=envelope.event_id))

    spec = ConsumerSpec(f"claim-{uuid.uuid4().hex[:8]}", "KINERJA_PLANNING", ["kinerja.planning.period.>"])
    consumer = EventConsumer(spec, {PeriodOpened: on_period}, runtime.uow, settings)
    consumer.use_jetstream(lambda: js)
    await ensure_consumer(js, spec, settings)
    subscription = await js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)

    async def deliver(envelopes):
        for envelope in envelopes:
            # A distinct Nats-Msg-Id each time: the stream keeps both copies of a repeated event.
            await js.publish(envelope.subject(), envelope.model_dump_json().encode(),
                             headers={"Nats-Msg-Id": uuid.uuid4().hex})
        return await subscription.fetch(len(envelopes), timeout=5)

    yield runtime, consumer, deliver, handled, entered, release
    await nc.close()
    await runtime.stop()
    server.stop()


def envelope_of(payload: PeriodOpened):
    return make_envelope(payload, producer="planning", region="320000", correlation_id=uuid.uuid4().hex)


async def rows(runtime):
    async with runtime.session_factory() as s:
        return (await s.exec(select(ClaimedRow))).all()


async def inbox_ids(runtime):
    async with runtime.session_factory() as s:
        return set((await s.exec(select(InboxMessage.event_id))).all())


async def test_another_events_conflicting_insert_is_retried_not_taken_for_a_duplicate(harness):
    runtime, consumer, deliver, handled, _, _ = harness
    first, second = envelope_of(period("same-row")), envelope_of(period("same-row"))
    m1, m2 = await deliver([first, second])
    assert await consumer.process(m1) == "handled"
    # The second event inserts a row the first already holds: a real conflict, not a duplicate.
    assert await consumer.process(m2) == "retry"
    assert await inbox_ids(runtime) == {first.event_id}  # its claim rolled back with the handler


async def test_the_same_event_twice_at_once_runs_its_effects_once(harness):
    runtime, consumer, deliver, handled, entered, release = harness
    envelope = envelope_of(period("once").model_copy(update={"name": "hold"}))
    m1, m2 = await deliver([envelope, envelope])
    first = asyncio.create_task(consumer.process(m1))
    await entered.wait()  # the first copy holds its claim, its handler still running
    second = asyncio.create_task(consumer.process(m2))
    await asyncio.sleep(0.3)
    release.set()
    outcomes = sorted(await asyncio.gather(first, second))
    assert outcomes == ["duplicate", "handled"]
    assert [r.event_id for r in await rows(runtime)] == [envelope.event_id]
    assert handled == [envelope.event_id]  # the second copy never ran the handler


async def test_a_claim_is_released_when_the_handler_fails(harness):
    runtime, consumer, deliver, handled, _, _ = harness
    blocker = envelope_of(period("taken"))
    later = envelope_of(period("taken"))
    m1, m2 = await deliver([blocker, later])
    assert await consumer.process(m1) == "handled"
    assert await consumer.process(m2) == "retry"
    async with runtime.session_factory() as s:  # the conflict goes away (e.g. a correction)
        await s.delete(await s.get(ClaimedRow, "taken"))
        await s.commit()
    (again,) = await deliver([later])
    assert await consumer.process(again) == "handled"
    assert {r.event_id for r in await rows(runtime)} == {later.event_id}
