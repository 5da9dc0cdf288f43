"""Object storage going away and coming back, against an S3 server of the test's own (so
stopping it disturbs no other test): while it is down, uploads and download links answer
503 ``penyimpanan_berkas_tidak_tersedia`` with Retry-After (never a 500 with a traceback), one
warning per outage is logged; when it is back, even empty (its bucket gone), uploads work
again without restarting the service."""

from __future__ import annotations

import sys
import threading
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import structlog
from minio import Minio

from kinerja_shared.testing import servers
from kinerja_shared.testing.wait import eventually as wait_for

sys.path.insert(0, str(Path(__file__).parent))
import evidence_samples as samples  # noqa: E402


def s3_server_class():
    """Whichever S3 server the shared testing module provides; SeaweedFS keeps its data
    across a restart, moto's server forgets it (its bucket is gone after a restart)."""
    return getattr(servers, "SeaweedS3Server", None) or servers.MotoS3Server


@pytest.fixture
def own_s3():
    started = []

    def start(port: int | None = None):
        server = s3_server_class()(port=port)
        started.append(server)
        return server, server.start()

    yield start
    for server in started:
        server.stop()


@asynccontextmanager
async def evidence_on(service_factory, endpoint):
    async with service_factory(
        s3_endpoint=endpoint.endpoint, s3_access_key=endpoint.access_key, s3_secret_key=endpoint.secret_key,
    ) as service:
        service.minio = Minio(endpoint.endpoint, access_key=endpoint.access_key,
                              secret_key=endpoint.secret_key, secure=False, region="us-east-1")
        yield service


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "penyimpanan_berkas_tidak_tersedia"
    assert error["message"] and error["message_en"]
    assert "Traceback" not in response.text


async def test_storage_down_answers_503_with_retry_after_then_recovers(service_factory, own_s3):
    server, endpoint = own_s3()
    async with evidence_on(service_factory, endpoint) as service:
        plan = await service.approved_plan()
        guru = service.guru(plan.teacher_nip)
        first = await service.upload(plan.plan_id, samples.PDF, headers=guru, item_id="pk-1")
        assert first.status_code == 201, first.text
        evidence_id = first.json()["evidence_id"]

        with structlog.testing.capture_logs() as logs:
            server.stop()
            for _ in range(3):
                assert_unavailable(await service.upload(plan.plan_id, samples.JPEG, headers=guru, item_id="pk-2"))
                assert_unavailable(await service.client.get(f"/v1/evidence/{evidence_id}/download", headers=guru))
            ready = await service.client.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["object_storage"].startswith("gagal")

            server.start()  # the same server again, on the same port
            second = await service.upload(plan.plan_id, samples.JPEG, headers=guru, item_id="pk-2")
            assert second.status_code == 201, second.text
            link = await service.client.get(f"/v1/evidence/{second.json()['evidence_id']}/download", headers=guru)
            assert link.status_code == 200, link.text

        events = [(e["log_level"], e["event"]) for e in logs]
        assert events.count(("warning", "storage.unavailable")) == 1, events
        assert events.count(("info", "storage.available_again")) == 1, events
        assert not [e for e in logs if e["log_level"] in ("error", "critical") or e.get("exc_info")], logs
        assert not [e for e in events if e[1] == "http.unhandled"]
        assert len(await service.evidence_rows()) == 2


async def test_storage_back_without_its_bucket_heals_without_a_restart(service_factory, own_s3):
    server, endpoint = own_s3()
    async with evidence_on(service_factory, endpoint) as service:
        plan = await service.approved_plan()
        guru = service.guru(plan.teacher_nip)
        first = await service.upload(plan.plan_id, samples.PDF, headers=guru, item_id="pk-1")
        assert first.status_code == 201, first.text

        # The store is replaced by an empty one on the same address: no bucket, no objects.
        server.stop()
        fresh, _ = own_s3(port=server.port)
        assert service.settings.s3_bucket not in {b.name for b in service.minio.list_buckets()}

        second = await service.upload(plan.plan_id, samples.JPEG, headers=guru, item_id="pk-2")
        assert second.status_code == 201, second.text
        key = f"evidence/{plan.school_npsn}/{plan.teacher_nip}/{second.json()['evidence_id']}"
        assert service.objects() == [key]
        assert (await service.client.get("/health/ready")).status_code == 200

        # The file lost with the old store is said to be missing, not linked to a 404.
        lost = await service.client.get(f"/v1/evidence/{first.json()['evidence_id']}/download", headers=guru)
        assert lost.status_code == 404 and lost.json()["error"]["code"] == "berkas_tidak_ada_di_penyimpanan"

        # The readiness check puts the bucket back too (for presigned PUTs straight to the store).
        fresh.stop()
        own_s3(port=server.port)
        await wait_for(lambda: _ready(service))
        assert service.settings.s3_bucket in {b.name for b in service.minio.list_buckets()}


async def _ready(service) -> bool:
    return (await service.client.get("/health/ready")).status_code == 200


class BadGateway(BaseHTTPRequestHandler):
    """What sits in front of a dead store (a load balancer, a proxy): 502 with an HTML page."""

    def _answer(self) -> None:
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

    def log_message(self, *args) -> None:
        pass


async def test_a_store_answering_5xx_is_unavailable_too(service_factory):
    proxy = ThreadingHTTPServer(("127.0.0.1", servers.free_port()), BadGateway)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        async with service_factory(wait_ready=False, s3_endpoint=f"127.0.0.1:{proxy.server_port}") as service:
            plan = await service.approved_plan()
            guru = service.guru(plan.teacher_nip)
            assert_unavailable(await service.upload(plan.plan_id, samples.PDF, headers=guru, item_id="pk-1"))
            started = await service.start_upload(plan, samples.PDF, guru)
            assert_unavailable(started)
            assert await service.evidence_rows() == []
    finally:
        proxy.shutdown()
        proxy.server_close()
