"""Fixtures: the e-Kinerja SIMULATOR served for real by uvicorn on a free port, and helpers to
build finalized results with fresh NIPs."""

from __future__ import annotations

import random
import threading
import uuid
from contextlib import AsyncExitStack
from datetime import datetime, timezone

import httpx
import nats
import pytest
import uvicorn

from ekinerja_simulator.app import create_app
from ekinerja_simulator.settings import SimulatorSettings
from kinerja_ekinerja_sync.bootstrap import build
from kinerja_ekinerja_sync.settings import Settings
from kinerja_shared.events import AssessmentFinalized, PersonRef
from kinerja_shared.testing.http import running_app
from kinerja_shared.testing.servers import free_port, nats_client_options, wait_for_port

NPSN = "20212345"
REGION = "020500"
KS_NIP = "197204151998022001"


class Simulator:
    def __init__(self, url: str, app) -> None:
        self.url = url
        self.app = app

    def reset(self) -> None:
        httpx.post(f"{self.url}/simulator/reset", timeout=5).raise_for_status()

    def faults(self, **faults) -> dict:
        r = httpx.put(f"{self.url}/simulator/faults", json=faults, timeout=5)
        r.raise_for_status()
        return r.json()

    def records(self) -> dict:
        return httpx.get(f"{self.url}/simulator/records", timeout=5).json()


@pytest.fixture
def nats_server(nats_factory):
    """Each test its own NATS server: on the session's shared server the service's durable
    consumer would also drain the results earlier tests (assessment's) left in the stream, and
    the simulator would count them."""
    return nats_factory().start()


@pytest.fixture(scope="session")
def simulator_server():
    port = free_port()
    app = create_app(SimulatorSettings(http_port=port, retry_after_s=1))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ekinerja-simulator", daemon=True)
    thread.start()
    wait_for_port(port)
    yield Simulator(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def simulator(simulator_server):
    simulator_server.reset()
    yield simulator_server
    simulator_server.reset()


def fresh_nip() -> str:
    """A plausible, unique NIP: birth date, CPNS start, sex, sequence."""
    rng = random.Random(uuid.uuid4().int)
    birth = f"19{rng.randint(60, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    start = f"20{rng.randint(10, 24)}{rng.randint(1, 12):02d}"
    return f"{birth}{start}{rng.choice('12')}{rng.randint(1, 999):03d}"


def finalized(teacher_nip: str | None = None, **changes) -> AssessmentFinalized:
    teacher = changes.pop("teacher", None) or PersonRef(
        nip=teacher_nip or fresh_nip(), name="Siti Rahmawati, S.Pd.", role="guru", jabatan="Guru Kelas",
        jenjang="Ahli Pertama", golongan="III/a", asn_status="PNS", assessor_nip=KS_NIP,
    )
    fields = dict(
        assessment_id=str(uuid.uuid4()), assessment_version=1, plan_id=str(uuid.uuid4()),
        period_id=str(uuid.uuid4()), year=2026, month_start=1, month_end=6, school_npsn=NPSN,
        teacher=teacher,
        assessor=PersonRef(
            nip=KS_NIP, name="Dra. Sri Wahyuni", role="kepala_sekolah", jabatan="Kepala Sekolah",
            jenjang="Ahli Madya", golongan="IV/a", asn_status="PNS",
        ),
        assessor_unit="SD Negeri 1 Cibinong", rating_hasil_kerja="DI_ATAS", rating_perilaku_kerja="SESUAI",
        predikat="BAIK", predikat_code=2, finalized_at=datetime.now(timezone.utc),
    )
    fields.update(changes)
    return AssessmentFinalized(**fields)


@pytest.fixture
def make_finalized():
    """conftest is not importable under --import-mode=importlib: hand the builder over."""
    return finalized


@pytest.fixture
def new_nip():
    return fresh_nip


@pytest.fixture
async def run_sync(nats_server, database_url, simulator):
    """Start the service in-process against this test's NATS, database and the simulator, with
    short timings; returns (runtime, HTTP client, JetStream). Stopped at the end of the test."""
    async with AsyncExitStack() as stack:
        nc = await nats.connect(**nats_client_options(nats_server.url))
        stack.push_async_callback(nc.close)

        async def start(**overrides):
            options = dict(
                database_url=database_url, nats_url=nats_server.url, ekinerja_base_url=simulator.url,
                ekinerja_timeout_s=2.0, ekinerja_backoff_base_s=0.05, ekinerja_backoff_max_s=0.2,
                ekinerja_poll_interval_s=0.05, consumer_backoff_base_s=0.05, outbox_poll_interval_s=0.1,
            )
            options.update(overrides)
            runtime, app = build(Settings(**options))
            http = await stack.enter_async_context(running_app(app))
            return runtime, http, nc.jetstream()

        yield start
