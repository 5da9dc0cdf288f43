"""Nothing lost, nothing doubled: the outbox survives NATS going away, and two replicas of a
service share one durable consumer without applying an event twice."""

from __future__ import annotations

import asyncio
import uuid

import nats
from sqlmodel import Field, SQLModel, func, select

from kinerja_shared.events import PeriodOpened
from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.messaging.streams import ConsumerSpec
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.servers import nats_client_options
from kinerja_shared.testing.wait import eventually


class SeenPeriod(SQLModel, table=True):
    __tablename__ = "test_seen_periods"
    period_id: str = Field(primary_key=True)
    replica: str


def period(pid: str) -> PeriodOpened:
    return PeriodOpened(period_id=pid, policy="pmm-2024", year=2026, semester=1, name="S1",
                        starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6)


async def test_outbox_keeps_events_while_nats_is_down_and_publishes_them_after(nats_factory, tmp_path):
    server = nats_factory().start()
    settings = ServiceSettings(service_name="planning", nats_url=server.url,
                               database_url=f"sqlite+aiosqlite:///{tmp_path / 'o.db'}",
                               outbox_poll_interval_s=0.1)
    runtime = ServiceRuntime(settings, tables=[])
    await runtime.start()
    try:
        server.kill()
        async with runtime.uow() as uow:  # the use case still commits: the event waits in the outbox
            for i in range(20):
                uow.publish(period(f"down-{i}"), region="020500")
            await uow.commit()
        await asyncio.sleep(1.0)
        assert await runtime.relay.pending_count() == 20
        server.start()  # same port and store

        async def drained():
            return await runtime.relay.pending_count() == 0

        await eventually(drained)
        nc = await nats.connect(**nats_client_options(server.url))
        info = await nc.jetstream().stream_info("KINERJA_PLANNING")
        await nc.close()
        assert info.state.messages == 20  # each exactly once, in spite of retries
    finally:
        await runtime.stop()


async def test_two_replicas_split_the_work_and_apply_each_event_once(nats_server, database_url):
    durable = f"replicas-{uuid.uuid4().hex[:8]}"
    prefix = uuid.uuid4().hex[:6]
    runtimes = []
    for replica in ("a", "b"):
        # A test durable, not one of assessment's: as operator (nats_auth).
        settings = ServiceSettings(service_name="assessment", database_url=database_url, nats_url=nats_server.url,
                                   nats_user="operator")
        rt = ServiceRuntime(settings, tables=[SeenPeriod.__table__])

        async def handler(event: PeriodOpened, envelope, uow, replica=replica):
            if event.period_id.startswith(prefix):
                uow.session.add(SeenPeriod(period_id=event.period_id, replica=replica))

        rt.add_consumer(ConsumerSpec(durable, "KINERJA_PLANNING", ["kinerja.planning.period.>"]), {PeriodOpened: handler})
        await rt.start()
        runtimes.append(rt)
    try:
        publisher = runtimes[0]
        for batch in range(4):
            async with publisher.uow() as uow:
                for i in range(50):
                    uow.publish(period(f"{prefix}-{batch}-{i}"), region="020500")
                await uow.commit()

        async def all_seen():
            async with publisher.session_factory() as s:
                n = (await s.exec(select(func.count()).select_from(SeenPeriod).where(
                    SeenPeriod.period_id.startswith(prefix)))).one()
            return n == 200

        await eventually(all_seen)
        async with publisher.session_factory() as s:
            rows = (await s.exec(select(SeenPeriod).where(SeenPeriod.period_id.startswith(prefix)))).all()
            sent = (await s.exec(select(func.count()).select_from(OutboxMessage))).one()
        assert len({r.period_id for r in rows}) == 200
        assert sent >= 200
    finally:
        for rt in runtimes:
            await rt.stop()
