"""The HTTP conventions every service gets from ServiceRuntime.http_app: JSON errors with a
stable code, auth, correlation ids carried into events, readiness that tells the truth
(the database fails it, NATS is a detail and a gauge), database faults named 503s."""

from __future__ import annotations

import asyncio

import httpx
import nats
import psycopg
import structlog
from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import select

from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.errors import Conflict, DependencyUnavailable, Forbidden
from kinerja_shared.events import PeriodOpened
from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.http import bearer, running_app
from kinerja_shared.testing.servers import create_postgres_database, drop_postgres_database, free_port, nats_client_options


class Body(BaseModel):
    year: int


def build(nats_url: str, database_url: str):
    runtime = ServiceRuntime(
        ServiceSettings(service_name="planning", database_url=database_url, nats_url=nats_url), tables=[]
    )
    router = APIRouter()

    @router.post("/v1/periods")
    async def open_period(body: Body, principal: CurrentPrincipal):
        if principal.role != "dinas":
            raise Forbidden("peran_tidak_diizinkan", "Peran ini tidak boleh.", "Role may not.")
        if body.year < 2024:
            raise Conflict("tahun_tidak_didukung", "Tahun sebelum 2024 tidak didukung.", "Years before 2024 are not supported.")
        async with runtime.uow() as uow:
            env = uow.publish(
                PeriodOpened(period_id="p", policy="pmm-2024", year=body.year, semester=1, name="S1",
                             starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6),
                region="020500",
            )
            await uow.commit()
        return {"event_id": env.event_id}

    @router.get("/v1/boom")
    async def boom():
        raise RuntimeError("secret internals")

    return runtime, runtime.http_app(title="t", description="d", routers=[router])


async def outbox_rows(runtime):
    async with runtime.session_factory() as s:
        return (await s.exec(select(OutboxMessage))).all()


async def test_errors_are_json_with_stable_codes_and_change_nothing(nats_server, database_url):
    runtime, app = build(nats_server.url, database_url)
    async with running_app(app) as client:
        r = await client.post("/v1/periods", json={"year": 2026})
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_tidak_ada"
        r = await client.post("/v1/periods", json={"year": 2026}, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_tidak_valid"
        r = await client.post("/v1/periods", json={"year": 2026}, headers=bearer("guru", nip="198503122010012001"))
        assert r.status_code == 403 and r.json()["error"]["code"] == "peran_tidak_diizinkan"
        r = await client.post("/v1/periods", json={"year": "dua ribu"}, headers=bearer("dinas"))
        assert r.status_code == 422 and r.json()["error"]["code"] == "input_tidak_valid"
        assert r.json()["error"]["details"][0]["field"] == "body.year"
        r = await client.post("/v1/periods", content=b"{broken", headers={**bearer("dinas"), "Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "input_tidak_valid"
        r = await client.post("/v1/periods", json={"year": 2020}, headers=bearer("dinas"))
        assert r.status_code == 409 and r.json()["error"]["message"].startswith("Tahun sebelum")
        r = await client.get("/v1/nowhere")
        assert r.status_code == 404 and r.json()["error"]["code"] == "tidak_ditemukan"
        r = await client.get("/v1/boom")
        assert r.status_code == 500 and r.json()["error"]["code"] == "kesalahan_internal"
        assert "secret internals" not in r.text and "Traceback" not in r.text
        assert await outbox_rows(runtime) == []


async def test_correlation_id_travels_from_http_into_the_event(nats_server, database_url):
    runtime, app = build(nats_server.url, database_url)
    nc = await nats.connect(**nats_client_options(nats_server.url))
    sub = await nc.subscribe("kinerja.planning.period.opened.>")
    try:
        async with running_app(app) as client:
            r = await client.post("/v1/periods", json={"year": 2026},
                                  headers={**bearer("dinas"), "X-Correlation-ID": "corr-123"})
            assert r.status_code == 200 and r.headers["X-Correlation-ID"] == "corr-123"
            msg = await sub.next_msg(timeout=10)
            assert msg.headers["Kinerja-Correlation-Id"] == "corr-123"
            assert b'"correlation_id":"corr-123"' in msg.data
            r = await client.get("/health/live")
            assert r.status_code == 200 and r.headers["X-Correlation-ID"]
    finally:
        await nc.close()


def nats_gauge(metrics_text: str) -> float:
    [line] = [l for l in metrics_text.splitlines() if l.startswith("kinerja_nats_connected ")]
    return float(line.split()[1])


async def test_nats_down_is_a_detail_and_a_gauge_not_unreadiness(nats_factory, tmp_path):
    server = nats_factory().start()
    runtime, app = build(server.url, f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    async with running_app(app) as client:
        r = await client.get("/health/ready")
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "checks": {"database": "ok"},
                            "details": {"nats": "terhubung", "outbox": "tertunda 0, diparkir 0"}}
        assert nats_gauge((await client.get("/metrics")).text) == 1
        server.kill()
        await asyncio.sleep(0.5)
        # The outbox holds events meanwhile: the replica keeps answering HTTP.
        r = await client.get("/health/ready")
        assert r.status_code == 200
        assert r.json()["checks"] == {"database": "ok"} and r.json()["details"]["nats"] == "terputus"
        assert nats_gauge((await client.get("/metrics")).text) == 0
        r = await client.post("/v1/periods", json={"year": 2026}, headers=bearer("dinas"))
        assert r.status_code == 200 and len(await outbox_rows(runtime)) == 1
        server.start()  # same port, same store: the client reconnects on its own
        for _ in range(100):
            r = await client.get("/health/ready")
            if r.json()["details"]["nats"] == "terhubung":
                break
            await asyncio.sleep(0.1)
        assert r.json()["details"]["nats"] == "terhubung"
        assert nats_gauge((await client.get("/metrics")).text) == 1


async def test_readiness_fails_when_the_database_is_unreachable(nats_server, postgres_admin):
    url, name = create_postgres_database(postgres_admin)
    runtime, app = build(nats_server.url, url)
    try:
        async with running_app(app) as client:
            assert (await client.get("/health/ready")).status_code == 200
            # The database disappears under the running service (connections terminated).
            drop_postgres_database(name, postgres_admin)
            r = await client.get("/health/ready")
            assert r.status_code == 503
            assert r.json()["checks"]["database"].startswith("gagal")
            assert r.json()["details"]["nats"] == "terhubung"
    finally:
        drop_postgres_database(name, postgres_admin)


def assert_database_unavailable(r) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "5" and r.headers["X-Correlation-ID"]
    error = r.json()["error"]
    assert error["code"] == "basis_data_tidak_tersedia" and error["message"].startswith("Basis data")
    assert "Traceback" not in r.text and "asyncpg" not in r.text and "does not exist" not in r.text


async def test_a_dropped_database_is_a_named_503_logged_once_per_outage(nats_server, postgres_admin):
    url, name = create_postgres_database(postgres_admin)
    runtime, app = build(nats_server.url, url)
    try:
        async with running_app(app) as client:
            with structlog.testing.capture_logs() as logs:
                drop_postgres_database(name, postgres_admin)
                for _ in range(3):
                    r = await client.post("/v1/periods", json={"year": 2026},
                                          headers={**bearer("dinas"), "Idempotency-Key": "k-1"})
                    assert_database_unavailable(r)
                assert (await client.get("/health/ready")).status_code == 503
                # Back (empty, but it answers): the first statement that runs ends the episode.
                with psycopg.connect(postgres_admin, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                assert (await client.get("/health/ready")).status_code == 200
            events = [(e["log_level"], e["event"]) for e in logs if e["event"].startswith(("database.", "http."))]
            assert events == [("warning", "database.unavailable"), ("info", "database.recovered")]
    finally:
        drop_postgres_database(name, postgres_admin)


async def test_a_database_on_a_closed_port_is_a_named_503(nats_server):
    # Built, not started (start-up would wait for the database): requests still reach the routes.
    runtime, app = build(nats_server.url, f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/kinerja")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        with structlog.testing.capture_logs() as logs:
            for _ in range(2):
                assert_database_unavailable(await client.post("/v1/periods", json={"year": 2026}, headers=bearer("dinas")))
        assert [e["event"] for e in logs if e["log_level"] in ("warning", "error")] == ["database.unavailable"]
    await runtime.engine.dispose()


def test_the_helper_names_any_dependency():
    exc = DependencyUnavailable("ekinerja", retry_after_s=30)
    assert (exc.status_code, exc.code, exc.headers) == (503, "ekinerja_tidak_tersedia", {"Retry-After": "30"})
    assert exc.to_dict()["error"]["details"] == {"dependency": "ekinerja", "retry_after_s": 30}
    assert DependencyUnavailable("antrian").code == "antrian_tidak_tersedia"
