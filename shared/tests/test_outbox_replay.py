"""Outbox retention and ``kinerja-outbox replay`` against a real NATS server and real databases
(SQLite, PostgreSQL).

A host loss is simulated the hard way: events are written through a unit of work and published
by the relay (rows marked sent), the NATS server is killed and a new one started on an EMPTY
store, the streams declared again as a service's start-up does. The CLI then has to put every
event back exactly once, in the original order with the original headers, and a second run must
find only duplicates."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nats
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from kinerja_shared.db import create_tables, make_engine, make_session_factory
from kinerja_shared.events import PeriodOpened
from kinerja_shared.messaging.outbox import OutboxMessage, OutboxRelay, headers_for, purge_published
from kinerja_shared.messaging.replay import cli, parse_since
from kinerja_shared.messaging.streams import ensure_streams
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.servers import nats_client_options
from kinerja_shared.testing.wait import eventually
from kinerja_shared.uow import UnitOfWorkFactory

OUTBOX = str(Path(sys.executable).parent / "kinerja-outbox")
TABLE = OutboxMessage.__table__
STREAM = "KINERJA_PLANNING"


def period(pid: str) -> PeriodOpened:
    return PeriodOpened(
        period_id=pid, policy="pmm-2024", year=2026, semester=1, name=f"Semester {pid}",
        starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6,
    )


@pytest.fixture
async def database(database_url):
    engine = make_engine(database_url)
    await create_tables(engine, [TABLE])
    yield database_url, make_session_factory(engine)
    await engine.dispose()


async def rows(session_factory, *where):
    async with session_factory() as session:
        connection = await session.connection()
        return (await connection.execute(select(TABLE).where(*where).order_by(TABLE.c.id))).all()


async def set_sent_at(session_factory, event_id: str, sent_at: datetime | None) -> None:
    async with session_factory() as session:
        connection = await session.connection()
        await connection.execute(update(TABLE).where(TABLE.c.event_id == event_id).values(sent_at=sent_at))
        await session.commit()


async def stream_messages(url: str) -> list:
    nc = await nats.connect(**nats_client_options(url))
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        if not info.state.messages:
            return []
        return [await js.get_msg(STREAM, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    finally:
        await nc.close()


async def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINERJA_")}
    return await asyncio.to_thread(
        subprocess.run, [OUTBOX, *args], env=env, capture_output=True, text=True, timeout=120
    )


async def test_replay_after_the_nats_store_is_lost(database, nats_factory):
    database_url, session_factory = database
    first = nats_factory().start()
    nc = await nats.connect(**nats_client_options(first.url))
    js = nc.jetstream()
    await ensure_streams(js, ServiceSettings(nats_url=first.url))
    uow = UnitOfWorkFactory(session_factory, "planning")
    # One event per transaction, then a batch in one transaction (publish_many), across regions.
    for i in range(5):
        async with uow() as u:
            u.publish(period(f"single-{i}"), region=f"02050{i}")
            await u.commit()
    async with uow() as u:
        await u.publish_many([(period(f"batch-{i}"), f"03010{i % 3}", None) for i in range(20)])
        await u.commit()
    relay = OutboxRelay(session_factory, lambda: js, batch_size=7, retention_days=7)
    while await relay.publish_pending():
        pass
    assert (await js.stream_info(STREAM)).state.messages == 25
    await nc.close()

    # Published before the window: not replayed. Written after the loss and not yet sent: the
    # relay's job, not replay's.
    await set_sent_at(session_factory, (await rows(session_factory))[0].event_id,
                      datetime.now(timezone.utc) - timedelta(hours=3))
    async with uow() as u:
        u.publish(period("unsent"), region="020500")
        await u.commit()
    expected = await rows(session_factory, TABLE.c.sent_at >= datetime.now(timezone.utc) - timedelta(hours=2))
    assert len(expected) == 24

    # The host loses its disk: a new server on an empty store, streams declared again.
    first.kill()
    second = nats_factory().start()
    nc = await nats.connect(**nats_client_options(second.url))
    await ensure_streams(nc.jetstream(), ServiceSettings(nats_url=second.url))
    await nc.close()
    assert await stream_messages(second.url) == []

    common = ["replay", "--service", "planning", "--since", "2h",
              "--database-url", database_url, "--nats-url", second.url]
    dry = await run_cli(*common, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "24 would be republished" in dry.stdout
    assert await stream_messages(second.url) == []

    replayed = await run_cli(*common)
    assert replayed.returncode == 0, replayed.stderr
    assert "republished 24: 24 stored again, 0 duplicate(s)" in replayed.stdout
    messages = await stream_messages(second.url)
    # Every event exactly once, in the original order, bytes and headers as the relay sent them.
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [r.event_id for r in expected]
    for message, row in zip(messages, expected):
        assert message.subject == row.subject
        assert message.data == row.data.encode()
        assert {k: message.headers[k] for k in headers_for(row)} == headers_for(row)

    again = await run_cli(*common)
    assert again.returncode == 0, again.stderr
    assert "republished 24: 0 stored again, 24 duplicate(s)" in again.stdout
    assert len(await stream_messages(second.url)) == 24
    # The database was only read: the unsent row is still waiting for the relay.
    assert [r.event_id for r in await rows(session_factory, TABLE.c.sent_at.is_(None))] == [
        r.event_id for r in (await rows(session_factory))[-1:]
    ]


async def test_purge_deletes_only_published_rows_past_the_window(database):
    _, session_factory = database
    uow = UnitOfWorkFactory(session_factory, "planning")
    async with uow() as u:
        envelopes = [u.publish(period(name), region="020500") for name in ("a", "b", "c", "d", "e", "f")]
        await u.commit()
    now = datetime.now(timezone.utc)
    ages = {"a": 10, "b": 8, "c": 7.5, "d": 1, "f": 0}  # days since sent; "e" never sent
    for envelope, name in zip(envelopes, "abcdef"):
        if name in ages:
            await set_sent_at(session_factory, envelope.event_id, now - timedelta(days=ages[name]))
    # An unsent row written long ago (NATS away for weeks) is never purged.
    async with session_factory() as session:
        connection = await session.connection()
        await connection.execute(
            update(TABLE).where(TABLE.c.event_id == envelopes[4].event_id).values(created_at=now - timedelta(days=30))
        )
        await session.commit()

    # One row per batch: three batches delete, the fourth finds nothing.
    assert await purge_published(session_factory, timedelta(days=7), batch_size=1, max_batches=2) == 2
    assert await purge_published(session_factory, timedelta(days=7), batch_size=1) == 1
    assert await purge_published(session_factory, timedelta(days=7)) == 0
    left = {r.event_id for r in await rows(session_factory)}
    assert left == {envelopes[i].event_id for i in (3, 4, 5)}  # d, e (unsent), f


async def test_relay_purges_while_idle(database, monkeypatch):
    _, session_factory = database
    uow = UnitOfWorkFactory(session_factory, "planning")
    async with uow() as u:
        old = u.publish(period("old"), region="020500")
        recent = u.publish(period("recent"), region="020500")
        await u.commit()
    await set_sent_at(session_factory, old.event_id, datetime.now(timezone.utc) - timedelta(days=8))
    await set_sent_at(session_factory, recent.event_id, datetime.now(timezone.utc) - timedelta(days=6))

    # retention 0: kept forever.
    keeper = OutboxRelay(session_factory, lambda: None, poll_interval_s=0.05, retention_days=0)
    keeper.start()
    await asyncio.sleep(0.3)
    await keeper.stop()
    assert len(await rows(session_factory)) == 2

    # Without an explicit value the relay reads KINERJA_OUTBOX_RETENTION_DAYS.
    monkeypatch.setenv("KINERJA_OUTBOX_RETENTION_DAYS", "7")
    relay = OutboxRelay(session_factory, lambda: None, poll_interval_s=0.05)
    relay.start()
    try:
        async def only_recent_left():
            return [r.event_id for r in await rows(session_factory)] == [recent.event_id]
        await eventually(only_recent_left, what="the old row purged")
    finally:
        await relay.stop()


def test_since_accepts_iso_with_timezone_and_durations():
    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("3d", now) == now - timedelta(days=3)
    assert parse_since("1d12h", now) == now - timedelta(hours=36)
    assert parse_since("2026-05-01T08:00:00+07:00") == datetime(2026, 5, 1, 1, 0, tzinfo=timezone.utc)
    assert parse_since("2026-05-01T08:00:00Z") == datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)
    for bad in ("2026-05-01T08:00:00", "yesterday", "2x", ""):
        with pytest.raises(ValueError):
            parse_since(bad, now)


def test_cli_refuses_a_missing_sqlite_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/db/planning.db here
    monkeypatch.delenv("KINERJA_DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["replay", "--service", "planning", "--since", "2h", "--dry-run"])
    assert result.exit_code == 2
    assert "no SQLite database at" in re.sub(r"\s+", " ", result.output)
    assert not (tmp_path / "data").exists()
