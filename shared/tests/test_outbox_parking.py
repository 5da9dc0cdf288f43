"""One event NATS cannot take must not block an outbox for good (issue 11).

Found: a 1.1 MB roster name made an event over NATS's 1 MiB max_payload; the relay retried it
forever, every later event stayed unsent, readiness stayed 200 and kinerja_outbox_pending
stayed 0. Now a command that would write such an event is refused (422 data_terlalu_besar,
nothing written); a row that still cannot go out (written before, or refused by the server) is
parked with its reason and the rest keep flowing; the gauges and readiness show the backlog and
the parked rows; `kinerja-outbox parked` / `unpark` let an operator see and retry them."""

from __future__ import annotations

import asyncio
import re
import uuid

import nats
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert, select
from typer.testing import CliRunner

from kinerja_shared.db import create_tables, make_engine, make_session_factory
from kinerja_shared.events import PeriodOpened
from kinerja_shared.events.envelope import make_envelope
from kinerja_shared.messaging.outbox import EventTooLarge, OutboxMessage, OutboxRelay
from kinerja_shared.messaging.replay import cli
from kinerja_shared.messaging.streams import ensure_streams
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.http import running_app
from kinerja_shared.testing.servers import nats_client_options
from kinerja_shared.testing.wait import eventually
from kinerja_shared.uow import UnitOfWorkFactory

TABLE = OutboxMessage.__table__
STREAM = "KINERJA_PLANNING"


def period(pid: str, name: str = "S1") -> PeriodOpened:
    return PeriodOpened(period_id=pid, policy="pmm-2024", year=2026, semester=1, name=name,
                        starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6)


@pytest.fixture
async def database(database_url):
    engine = make_engine(database_url)
    await create_tables(engine, [TABLE])
    yield database_url, make_session_factory(engine)
    await engine.dispose()


async def outbox_rows(session_factory):
    async with session_factory() as session:
        connection = await session.connection()
        return (await connection.execute(select(TABLE).order_by(TABLE.c.id))).all()


async def write_raw(session_factory, *payloads: PeriodOpened, subject: str | None = None) -> list[str]:
    """Outbox rows written straight, as a release without the size check did."""
    envelopes = [make_envelope(p, producer="planning", region="020500", correlation_id="c") for p in payloads]
    values = [OutboxMessage.row_for(e) for e in envelopes]
    if subject:
        for v in values:
            v["subject"] = subject
    async with session_factory() as session:
        connection = await session.connection()
        await connection.execute(insert(TABLE), values)
        await session.commit()
    return [e.event_id for e in envelopes]


async def stream_event_ids(url: str) -> list[str]:
    nc = await nats.connect(**nats_client_options(url))
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        if not info.state.messages:
            return []
        msgs = [await js.get_msg(STREAM, s) for s in range(info.state.first_seq, info.state.last_seq + 1)]
        return [m.headers["Nats-Msg-Id"] for m in msgs]
    finally:
        await nc.close()


async def connected_js(url: str):
    nc = await nats.connect(**nats_client_options(url))
    await ensure_streams(nc.jetstream(), ServiceSettings())
    return nc


async def test_a_command_writing_an_event_over_the_limit_is_refused_and_writes_nothing(database):
    _, session_factory = database
    uow_factory = UnitOfWorkFactory(session_factory, "planning", event_max_bytes=10_000)
    async with uow_factory() as uow:
        with pytest.raises(EventTooLarge) as refused:
            uow.publish(period("big", name="x" * 20_000), region="020500")
        await uow.commit()
    assert refused.value.code == "data_terlalu_besar" and refused.value.status_code == 422
    assert refused.value.details["max_bytes"] == 10_000 and refused.value.details["bytes"] > 20_000
    async with uow_factory() as uow:
        with pytest.raises(EventTooLarge):
            await uow.publish_many([(period("ok"), "020500", None), (period("big", name="é" * 6_000), "020500", None)])
        await uow.commit()
    assert await outbox_rows(session_factory) == []
    # Characters, not bytes, would let 4-byte characters through: measured in UTF-8 bytes.
    async with uow_factory() as uow:
        with pytest.raises(EventTooLarge):
            uow.publish(period("emoji", name="\U0001F600" * 2_400), region="020500")  # 2,400 chars, 9,600+ bytes
    # The default leaves headroom below NATS's 1 MiB max_payload.
    assert 0 < ServiceSettings().event_max_bytes <= 1024 * 1024 - 64 * 1024


async def test_relay_parks_a_row_over_max_payload_and_publishes_the_rest(database, nats_server):
    database_url, session_factory = database
    [big] = await write_raw(session_factory, period("too-big", name="x" * 1_100_000))
    later = await write_raw(session_factory, period("after-1"), period("after-2"))
    nc = await connected_js(nats_server.url)
    try:
        relay = OutboxRelay(session_factory, nc.jetstream, retention_days=0, max_attempts=30)
        assert await relay.publish_pending() == 3  # 2 published, 1 parked, in one turn
        assert await relay.publish_pending() == 0
    finally:
        await nc.close()
    by_id = {r.event_id: r for r in await outbox_rows(session_factory)}
    assert by_id[big].sent_at is None and by_id[big].parked_at is not None
    assert by_id[big].parked_reason.startswith("payload_terlalu_besar")
    assert all(by_id[e].sent_at is not None and by_id[e].parked_at is None for e in later)
    ids = await stream_event_ids(nats_server.url)
    assert set(later) <= set(ids) and big not in ids
    assert await relay.pending_count() == 0
    assert await relay.parked_count() == 1
    assert REGISTRY.get_sample_value("kinerja_outbox_parked") == 1
    assert await relay.state() == "tertunda 0, diparkir 1"

    # The operator sees it and can put it back in line; still too large, it is parked again.
    def invoke(*args: str):  # the CLI runs its own event loop: off this one
        return asyncio.to_thread(CliRunner().invoke, cli, [*args, "--service", "planning", "--database-url", database_url])

    listed = await invoke("parked")
    assert listed.exit_code == 0, listed.output
    assert big in listed.output and "payload_terlalu_besar" in listed.output
    assert "planning: 1 parked event(s)" in listed.output
    assert (await invoke("unpark")).exit_code == 2  # neither --event-id nor --all
    unparked = await invoke("unpark", "--all")
    assert unparked.exit_code == 0 and "1 event(s) unparked" in unparked.output
    assert await relay.parked_count() == 0 and await relay.pending_count() == 1
    nc = await connected_js(nats_server.url)
    try:
        relay = OutboxRelay(session_factory, nc.jetstream, retention_days=0, max_attempts=30)
        await relay.publish_pending()
    finally:
        await nc.close()
    assert await relay.parked_count() == 1


async def test_relay_parks_a_row_failing_max_attempts_while_connected(database, nats_server):
    _, session_factory = database
    # No stream takes this subject: every publish fails while NATS is connected.
    [stuck] = await write_raw(session_factory, period("nowhere"), subject="kinerja.nowhere.period.opened")
    [after] = await write_raw(session_factory, period("after-stuck"))
    nc = await connected_js(nats_server.url)
    try:
        relay = OutboxRelay(session_factory, nc.jetstream, retention_days=0, max_attempts=3, park_after_s=0)
        for _ in range(2):
            with pytest.raises(Exception):
                await relay.publish_pending()
        assert await relay.pending_count() == 2  # held in order until the third failure
        assert await relay.publish_pending() == 2  # parked on the third, and the next one published
    finally:
        await nc.close()
    by_id = {r.event_id: r for r in await outbox_rows(session_factory)}
    assert by_id[stuck].parked_at is not None and by_id[stuck].publish_attempts == 3
    assert "NoStreamResponseError" in by_id[stuck].parked_reason
    assert by_id[after].sent_at is not None
    assert after in await stream_event_ids(nats_server.url)


async def test_a_stream_that_does_not_answer_parks_a_row_only_after_it_has_failed_for_a_while(database, nats_server):
    """No response from the stream is also what a JetStream election gives for seconds after a
    node loss: many quick failures alone must not park a healthy row (seen in the chaos run)."""
    _, session_factory = database
    [stuck] = await write_raw(session_factory, period("election"), subject="kinerja.nowhere.period.opened")
    nc = await connected_js(nats_server.url)
    try:
        relay = OutboxRelay(session_factory, nc.jetstream, retention_days=0, max_attempts=3, park_after_s=300)
        for _ in range(6):
            with pytest.raises(Exception):
                await relay.publish_pending()
        assert await relay.parked_count() == 0 and await relay.pending_count() == 1
        relay._park_after_s = 0  # the same row, once it has been failing long enough
        assert await relay.publish_pending() == 1
    finally:
        await nc.close()
    [row] = [r for r in await outbox_rows(session_factory) if r.event_id == stuck]
    assert row.parked_at is not None and row.publish_attempts == 7


async def test_failures_while_nats_is_away_are_not_counted_and_metrics_show_the_backlog(nats_factory, tmp_path):
    server = nats_factory().start()
    settings = ServiceSettings(service_name="planning", nats_url=server.url, outbox_max_attempts=2,
                               database_url=f"sqlite+aiosqlite:///{tmp_path / 'o.db'}",
                               outbox_poll_interval_s=0.05)
    runtime = ServiceRuntime(settings, tables=[])
    app = runtime.http_app(title="t", description="t", routers=[])
    async with running_app(app) as client:
        server.kill()
        async with runtime.uow() as uow:
            for i in range(5):
                uow.publish(period(f"down-{i}"), region="020500")
            await uow.commit()
        await asyncio.sleep(1.5)  # many relay turns, each failing
        metrics = (await client.get("/metrics")).text
        assert re.search(r"^kinerja_outbox_pending 5\.0$", metrics, re.M), metrics
        assert re.search(r"^kinerja_outbox_parked 0\.0$", metrics, re.M)
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["details"]["outbox"] == "tertunda 5, diparkir 0"
        rows = await outbox_rows(runtime.session_factory)
        assert {r.publish_attempts for r in rows} == {0} and all(r.parked_at is None for r in rows)
        server.start()

        for _ in range(100):
            if await runtime.relay.pending_count() == 0:
                break
            await asyncio.sleep(0.1)
        assert await runtime.relay.pending_count() == 0
        assert await runtime.relay.parked_count() == 0


async def test_a_handler_whose_event_is_too_large_is_dead_lettered_at_once(nats_server, database_url):
    from kinerja_shared.messaging.dead_letters import list_dead_letters
    from kinerja_shared.messaging.streams import ConsumerSpec

    # A test durable that also publishes planning events: as operator (kinerja_shared.messaging.nats_auth).
    settings = ServiceSettings(service_name="assessment", database_url=database_url, nats_url=nats_server.url,
                               event_max_bytes=5_000, consumer_max_deliveries=5, consumer_backoff_base_s=0.05,
                               nats_user="operator")
    runtime = ServiceRuntime(settings, tables=[])
    durable = f"too-large-{uuid.uuid4().hex[:8]}"
    prefix = uuid.uuid4().hex[:8]
    calls = []

    async def handler(event: PeriodOpened, envelope, uow):
        if event.period_id == f"{prefix}-in":
            calls.append(event.period_id)
            uow.publish(period(f"{prefix}-out", name="x" * 10_000), region="020500")

    runtime.add_consumer(ConsumerSpec(durable, "KINERJA_PLANNING", ["kinerja.planning.period.>"]), {PeriodOpened: handler})
    await runtime.start()
    try:
        async with runtime.uow() as uow:
            uow.publish(period(f"{prefix}-in"), region="020500")
            await uow.commit()
        nc = await nats.connect(**nats_client_options(nats_server.url))
        try:
            async def lettered():
                return [l for l in await list_dead_letters(nc.jetstream(), durable)] or None

            [letter] = await eventually(lettered)
        finally:
            await nc.close()
        assert "data_terlalu_besar" in letter.reason and calls == [f"{prefix}-in"]  # one delivery, no retries
    finally:
        await runtime.stop()
