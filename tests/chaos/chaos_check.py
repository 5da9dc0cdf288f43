"""After the traffic: wait for quiescence, then check what must hold after any crash.

Reads what it needs where it is: the e-Kinerja simulator's read endpoints, the services'
PostgreSQL databases (the checker may read them directly), the S3 bucket and JetStream."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter

import httpx
import nats
import psycopg

from kinerja_shared.testing.servers import nats_client_options

SETTLED_SYNC = ("acknowledged", "superseded", "skipped")


def pg(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def rows(url: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(pg(url)) as conn:
        return conn.execute(sql, args).fetchall()


def unsent_outbox(databases: dict[str, str]) -> dict[str, int]:
    return {name: rows(url, "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL")[0][0]
            for name, url in databases.items()}


def pending_objects(evidence_db: str) -> int:
    """Objects evidence may have written without their row yet (a request killed in between):
    its sweep removes them once their record is KINERJA_PENDING_OBJECT_MAX_AGE_S old."""
    return rows(evidence_db, "SELECT count(*) FROM evidence_pending_objects")[0][0]


def unsettled_sync(sync_db: str) -> dict[str, int]:
    return dict(rows(sync_db, "SELECT status, count(*) FROM sync_records WHERE status <> ALL(%s) GROUP BY status",
                     list(SETTLED_SYNC)))


async def jetstream_state(urls: list[str]) -> dict:
    """Per durable consumer: messages not yet delivered + delivered but not acked; the DLQ."""
    nc = await nats.connect(**nats_client_options(urls), connect_timeout=5, max_reconnect_attempts=3)
    try:
        js = nc.jetstream(timeout=10)
        pending, dead = {}, 0
        for stream in await js.streams_info():
            name = stream.config.name
            if name == "KINERJA_DEAD_LETTERS":
                dead = stream.state.messages
                continue
            for consumer in await js.consumers_info(name):
                pending[f"{name}/{consumer.name}"] = consumer.num_pending + consumer.num_ack_pending
        return {"pending": pending, "dead_letters": dead}
    finally:
        await nc.close()


def wait_for_quiescence(databases: dict[str, str], nats_urls: list[str], timeout_s: float = 900,
                        stable_polls: int = 3, out=print) -> dict:
    """Until the outboxes are empty, every consumer's pending is 0, the sync log holds no
    record still on its way and evidence no pending-object record (its sweep has removed what
    a killed upload left), seen that way ``stable_polls`` times in a row."""
    started = time.monotonic()
    calm = 0
    last: dict = {}
    while time.monotonic() - started < timeout_s:
        try:
            js = asyncio.run(jetstream_state(nats_urls))
            last = {"outbox_unsent": unsent_outbox(databases), "sync_unsettled": unsettled_sync(databases["ekinerja-sync"]),
                    "consumer_pending": {k: v for k, v in js["pending"].items() if v},
                    "pending_objects": pending_objects(databases["evidence"])}
        except Exception as exc:  # a NATS node may still be electing: try again
            last = {"error": f"{type(exc).__name__}: {exc}"}
            calm = 0
        else:
            quiet = not any(last["outbox_unsent"].values()) and not last["sync_unsettled"] and not last["consumer_pending"] \
                and not last["pending_objects"]
            calm = calm + 1 if quiet else 0
            if calm >= stable_polls:
                return {"quiescent": True, "quiescence_s": round(time.monotonic() - started, 1)}
        out(f"  waiting for quiescence ({time.monotonic() - started:.0f}s): {last}")
        time.sleep(2)
    return {"quiescent": False, "quiescence_s": round(time.monotonic() - started, 1), "still_busy": last}


def ekinerja(simulator_url: str, expected_results: set[str], expected_skp: set[str]) -> dict:
    """Results and SKPs in e-Kinerja against what was finalized and approved."""
    out: dict = {}
    for kind, path, expected in (("results", "/simulator/records", expected_results),
                                 ("skp", "/simulator/skp", expected_skp)):
        view = httpx.get(simulator_url + path, timeout=60).json()
        per_nip = Counter(r["pnsDinilaiId"] for r in view["records"])
        out[kind] = {
            "expected": len(expected),
            "stored": view["count"],
            "lost": sorted(expected - set(per_nip)),
            # More than one record for one teacher and period, or for one teacher at all.
            "duplicates": {k: n for k, n in view["count_by_nip_period"].items() if n > 1}
                          | {f"{nip} (any period)": n for nip, n in per_nip.items() if n > 1},
            "unexpected": sorted(set(per_nip) - expected),
        }
    out["calls"] = httpx.get(simulator_url + "/simulator/stats", timeout=30).json()["calls"]
    return out


def storage(evidence_db: str, s3_env: dict[str, str]) -> dict:
    """evidence_files rows against the bucket's objects, by key and SHA-256 of the bytes."""
    from minio import Minio

    client = Minio(s3_env["KINERJA_S3_ENDPOINT"], access_key=s3_env["KINERJA_S3_ACCESS_KEY"],
                   secret_key=s3_env["KINERJA_S3_SECRET_KEY"], secure=False, region="us-east-1")
    bucket = s3_env.get("KINERJA_S3_BUCKET", "kinerja-evidence")
    by_key = {key: sha for key, sha in rows(evidence_db, "SELECT object_key, sha256 FROM evidence_files")}
    objects = {o.object_name for o in client.list_objects(bucket, recursive=True)}
    mismatched = []
    for key in sorted(objects & set(by_key)):
        response = client.get_object(bucket, key)
        try:
            if hashlib.sha256(response.read()).hexdigest() != by_key[key]:
                mismatched.append(key)
        finally:
            response.close()
            response.release_conn()
    return {"rows": len(by_key), "objects": len(objects), "orphan_objects": sorted(objects - set(by_key)),
            "missing_objects": sorted(set(by_key) - objects), "sha256_mismatch": mismatched}


def read_models(db: dict[str, str]) -> dict:
    """Every read model equal to its source."""
    out: dict = {}
    # assessment's evidence_count (and its evidence view) per plan = evidence's bukti per plan.
    source = dict(rows(db["evidence"], "SELECT plan_id, count(*) FROM evidence_files GROUP BY plan_id"))
    counted = dict(rows(db["assessment"], "SELECT plan_id, evidence_count FROM assessments"))
    viewed = dict(rows(db["assessment"], "SELECT plan_id, count(*) FROM assessment_evidence "
                                         "WHERE uploaded GROUP BY plan_id"))
    out["assessment_evidence_count"] = {p: {"evidence": source.get(p, 0), "assessment": counted.get(p)}
                                        for p in set(source) | set(counted) if source.get(p, 0) != counted.get(p)}
    out["assessment_evidence_view"] = {p: {"evidence": source.get(p, 0), "assessment": viewed.get(p, 0)}
                                       for p in set(source) | set(viewed) if source.get(p, 0) != viewed.get(p, 0)}
    # assessment knows every approved plan; evidence knows it approved.
    approved = {p for (p,) in rows(db["planning"], "SELECT plan_id FROM planning_plans WHERE status = 'approved'")}
    out["assessment_missing_plans"] = sorted(approved - set(counted))
    known = {p for (p,) in rows(db["evidence"], "SELECT plan_id FROM evidence_plan_views WHERE status = 'approved'")}
    out["evidence_plan_view_missing"] = sorted(approved - known)
    # ekinerja-sync's records = assessment's finals (one per version) and planning's approved plans.
    finals = {(a, v) for a, v in rows(db["assessment"], "SELECT assessment_id, version FROM assessment_versions")}
    synced = {(a, v) for a, v in rows(db["ekinerja-sync"], "SELECT assessment_id, assessment_version FROM sync_records "
                                                         "WHERE kind = 'hasil'")}
    out["sync_missing_finals"] = sorted(f"{a}/v{v}" for a, v in finals - synced)
    out["sync_unknown_finals"] = sorted(f"{a}/v{v}" for a, v in synced - finals)
    skp = {a for (a,) in rows(db["ekinerja-sync"], "SELECT DISTINCT assessment_id FROM sync_records WHERE kind = 'skp'")}
    out["sync_missing_skp"] = sorted(approved - skp)
    out["sync_status"] = dict(rows(db["ekinerja-sync"], "SELECT kind || '/' || status, count(*) FROM sync_records "
                                                       "GROUP BY kind, status"))
    return out


def sent_more_than_once(sync_db: str) -> dict[str, int]:
    """Sync records e-Kinerja acknowledged more than once (a second save of the same thing)."""
    return {f"{kind}/{key}": n for kind, key, n in rows(
        sync_db, "SELECT r.kind, r.assessment_id, count(*) FROM sync_attempts a JOIN sync_records r "
                 "ON r.id = a.record_id WHERE a.outcome = 'acknowledged' GROUP BY r.kind, r.assessment_id, r.id "
                 "HAVING count(*) > 1")}
