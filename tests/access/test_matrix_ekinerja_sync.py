"""The access matrix of ekinerja-sync (see access_matrix.py), on SQLite with the e-Kinerja
simulator: the roster and school A's first guru's final result arrive as events and are sent."""

from __future__ import annotations

import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import nats
import pytest
import uvicorn

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from access_matrix import (  # noqa: E402
    DISTRICT_D, GURU_RECORD, SCHOOL, SCHOOL_A, SCHOOLS, Ctx, Op, check, publish, roster_event,
)

from ekinerja_simulator.app import create_app  # noqa: E402
from ekinerja_simulator.settings import SimulatorSettings  # noqa: E402
from kinerja_ekinerja_sync.bootstrap import build  # noqa: E402
from kinerja_ekinerja_sync.settings import Settings  # noqa: E402
from kinerja_shared.events import AssessmentFinalized, PersonRef  # noqa: E402
from kinerja_shared.messaging.streams import ensure_streams  # noqa: E402
from kinerja_shared.testing.http import bearer, running_app  # noqa: E402
from kinerja_shared.testing.servers import free_port, nats_client_options, wait_for_port  # noqa: E402
from kinerja_shared.testing.wait import eventually  # noqa: E402

A, D = SCHOOL_A.npsn, SCHOOL_A.region
GURU, KS = SCHOOL_A.gurus[0], SCHOOL_A.ks
SISTEM = bearer("sistem")
PERIOD = "2026-1-6"
SCHEDULED = f"{PERIOD}@{D}"  # the scheduled job's report of district D


@pytest.fixture
def simulator():
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(SimulatorSettings(http_port=port, retry_after_s=1)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ekinerja-simulator-matriks", daemon=True)
    thread.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def finalized(assessment_id: str) -> AssessmentFinalized:
    return AssessmentFinalized(
        assessment_id=assessment_id, assessment_version=1, plan_id=str(uuid.uuid4()), period_id=str(uuid.uuid4()),
        year=2026, month_start=1, month_end=6, school_npsn=A,
        teacher=PersonRef(nip=GURU, name="Guru A0", role="guru", jabatan="Guru Kelas", jenjang="Ahli Muda",
                          golongan="III/c", asn_status="PNS", assessor_nip=KS),
        assessor=PersonRef(nip=KS, name="Kepala A", role="kepala_sekolah", jabatan="Kepala Sekolah",
                           jenjang="Ahli Madya", golongan="IV/a", asn_status="PNS"),
        assessor_unit=SCHOOL_A.name, rating_hasil_kerja="SESUAI", rating_perilaku_kerja="SESUAI",
        predikat="BAIK", predikat_code=2, finalized_at=datetime.now(timezone.utc),
    )


async def seed(client, js) -> Ctx:
    ctx = Ctx(client)
    for school in SCHOOLS:
        await publish(js, roster_event(school), region=school.region)
    assessment_id = str(uuid.uuid4())
    await publish(js, finalized(assessment_id), region=D, producer="assessment")

    async def sent():
        r = await client.get(f"/v1/sync-log/teachers/{GURU}", headers=SISTEM)
        records = r.json().get("records", []) if r.status_code == 200 else []
        return any(rec.get("status") == "acknowledged" for rec in records) or None

    await eventually(sent, what="the final result sent to e-Kinerja")

    async def reconciled():
        r = await client.get("/v1/reconciliation/scheduled", headers=SISTEM)
        return SCHEDULED in r.json().get("reports", {}) or None

    await eventually(reconciled, what="the scheduled reconciliation of district D")
    ctx.ids.update(assessment=assessment_id)
    return ctx


def get(path, **params):
    return lambda c, h: c.client.get(path.format(**c.ids), params=params, headers=h)


def _keys(body) -> set[str]:
    return {r["key"] for r in body["records"]}


OPS = [
    Op("GET /v1/sync-log/teachers/{nip}", get(f"/v1/sync-log/teachers/{GURU}"), GURU_RECORD),
    Op("GET /v1/sync-log/schools/{npsn}", get(f"/v1/sync-log/schools/{A}"), SCHOOL),
    Op("GET /v1/sync-log/districts/{region}", get(f"/v1/sync-log/districts/{D}"), DISTRICT_D),
    Op("GET /v1/sync-records", get("/v1/sync-records"), GURU_RECORD, listing=_keys, target=lambda c: c.assessment),
    Op("GET /v1/reconciliation", get("/v1/reconciliation", period=PERIOD, region=D), DISTRICT_D),
    Op("GET /v1/reconciliation/scheduled", get("/v1/reconciliation/scheduled"), DISTRICT_D,
       listing=lambda body: set(body["reports"]), target=lambda c: SCHEDULED),
    Op("POST /v1/reconciliation", lambda c, h: c.client.post(
        "/v1/reconciliation", params={"period": PERIOD, "region": D}, headers=h), DISTRICT_D),
    # A record outside the caller's region is "not found" (its existence is not shown).
    Op("POST /v1/sync-records/{assessment_id}/retry", lambda c, h: c.client.post(
        f"/v1/sync-records/{c.assessment}/retry", headers=h), GURU_RECORD, hides=True),
]


async def test_ekinerja_sync_access_matrix(nats_factory, simulator, tmp_path):
    nats_server = nats_factory().start()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}", nats_url=nats_server.url,
        ekinerja_base_url=simulator, ekinerja_timeout_s=2.0, ekinerja_backoff_base_s=0.05,
        ekinerja_backoff_max_s=0.2, ekinerja_poll_interval_s=0.05, consumer_backoff_base_s=0.05,
        outbox_poll_interval_s=0.1,
        # The scheduled reconciliation runs once at start (then waits a minute): its report is
        # what GET /v1/reconciliation/scheduled shows, by region.
        ekinerja_reconcile_targets=SCHEDULED, ekinerja_reconcile_interval_s=60,
    )
    nc = await nats.connect(**nats_client_options(nats_server.url))
    try:
        js = nc.jetstream()
        await ensure_streams(js, settings)
        runtime, app = build(settings)
        async with running_app(app) as client:
            ctx = await seed(client, js)
            await check("ekinerja-sync", OPS, ctx)
    finally:
        await nc.close()
