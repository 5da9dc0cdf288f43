"""Every operation of every service's OpenAPI document, fuzzed by schemathesis against the
service served for real (uvicorn in a thread) on its own NATS JetStream, a SQLite file
(``FUZZ_DATABASE=postgres``: a fresh PostgreSQL database) and, for evidence, the session's S3
endpoint.

A fixed seed and a bounded number of examples per operation (FUZZ_EXAMPLES, default 25) keep
it repeatable and under a few minutes; requests carry valid tokens of several roles in turn.
Planning is seeded first (the sample roster, an open period, the school's priorities and an
agreed plan, as `make demo` sends them, on a clock in the planning stage shared by all four), and every other request has its path parameters (and
``period_id``, ``plan_id``, ``npsn`` in its query or body) swapped for those real ids, so the fuzzed bodies reach the domain rules and the
other services' read models built from planning's events, not only the 404s of random ids.
Each response must pass the checks: no 5xx (``not_a_server_error``), a status the document
declares (``status_code_conformance``) with a declared media type
(``content_type_conformance``) and a body that matches the declared schema
(``response_schema_conformance``). A failure prints the request to reproduce it.
"""

from __future__ import annotations

import importlib.util
import itertools
import time
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import schemathesis
import uvicorn
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ekinerja_simulator.app import create_app as simulator_app
from ekinerja_simulator.settings import SimulatorSettings
from kinerja_assessment.bootstrap import build as build_assessment
from kinerja_assessment.settings import Settings as AssessmentSettings
from kinerja_ekinerja_sync.bootstrap import build as build_sync
from kinerja_ekinerja_sync.settings import Settings as SyncSettings
from kinerja_evidence.bootstrap import build as build_evidence
from kinerja_evidence.settings import Settings as EvidenceSettings
from kinerja_planning.bootstrap import build as build_planning
from kinerja_planning.settings import Settings as PlanningSettings
from kinerja_shared.clock import FileClock
from kinerja_shared.testing.http import bearer
from kinerja_shared.testing.servers import (
    NatsServer,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    wait_for_port,
)

SEED = 20261104
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

CONFIG = f"""
seed = {SEED}
[generation]
max-examples = {EXAMPLES}
[phases.stateful]
enabled = false
"""

NPSN, REGION, PROVINCE = "20212345", "020500", "020000"
KS_NIP, GURU_NIP = "197204151998022001", "198503122010012001"


def _tokens() -> Iterator[dict[str, str]]:
    """Valid tokens of the roles that reach the most code, in a fixed order."""
    return itertools.cycle([
        bearer("dinas", region=PROVINCE),
        bearer("kepala_sekolah", nip=KS_NIP, npsn=NPSN, region=REGION),
        bearer("guru", nip=GURU_NIP, npsn=NPSN, region=REGION),
        bearer("operator_dinas", region=REGION),
        bearer("operator_sekolah", npsn=NPSN, region=REGION),
        bearer("pengawas", nip="196805051990031002", region=REGION),
        bearer("sistem"),
    ])


def _schema(build: Callable) -> schemathesis.schemas.BaseSchema:
    # The document of the app as built (`make docs` writes the same one to docs/openapi/).
    _runtime, app = build()
    return schemathesis.openapi.from_dict(app.openapi(), config=SchemathesisConfig.from_str(CONFIG))


planning_schema = _schema(build_planning)
evidence_schema = _schema(build_evidence)
assessment_schema = _schema(build_assessment)
sync_schema = _schema(build_sync)


EMBEDDED = Path(__file__).resolve().parents[2] / "deploy" / "embedded"
ROSTER = EMBEDDED / "sample_roster.csv"


def _demo():
    """deploy/embedded/demo.py: the sample school's priorities and a whole plan, as `make demo` sends them."""
    spec = importlib.util.spec_from_file_location("kinerja_fuzz_demo", EMBEDDED / "demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


DEMO = _demo()
# Query parameters and body fields swapped for the seeded ids.
ID_FIELDS = {"period_id", "plan_id", "npsn"}
# Real ids by parameter name, filled in by the planning fixture's seeding.
KNOWN: dict[str, str] = {"npsn": NPSN, "nip": GURU_NIP, "code": REGION, "region": REGION}


@dataclass
class Served:
    url: str
    session: requests.Session
    tokens: Iterator[dict[str, str]]
    statuses: Counter = field(default_factory=Counter)
    calls: int = 0

    def check(self, case) -> None:
        self.calls += 1
        if self.calls % 2 == 0:  # every other case on real ids, the rest as generated
            for name in list(case.path_parameters or {}):
                if name in KNOWN:
                    case.path_parameters[name] = KNOWN[name]
            for values in (case.query, case.body):
                if isinstance(values, dict):
                    for name in ID_FIELDS & values.keys() & KNOWN.keys():
                        values[name] = KNOWN[name]
        response = case.call_and_validate(base_url=self.url, session=self.session, headers=next(self.tokens),
                                          checks=CHECKS, timeout=30)
        self.statuses[response.status_code] += 1


def _serve(app) -> tuple[str, Callable[[], None]]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", server_header=False))
    thread = threading.Thread(target=server.run, name=f"fuzz-{port}", daemon=True)
    thread.start()
    wait_for_port(port, timeout=60)

    def stop() -> None:
        server.should_exit = True
        thread.join(30)

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture(scope="module")
def fuzz_nats():
    """A NATS server of its own: the fuzzed services' events stay out of other tests' streams."""
    server = NatsServer().start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory, fuzz_nats) -> Iterator[Callable[[Callable], Served]]:
    stops: list[Callable[[], None]] = []
    served_by_name: dict[str, Served] = {}

    def serve(app) -> Served:
        url, stop = _serve(app)
        stops.append(stop)
        session = requests.Session()
        # The service must be up (database migrated, NATS connected) before the first case.
        assert session.get(f"{url}/health/ready", timeout=30).status_code == 200
        served_by_name[app.title] = one = Served(url, session, _tokens())
        return one

    yield serve
    for stop in reversed(stops):
        stop()
    while _CREATED:
        drop_postgres_database(_CREATED.pop())
    for name, one in served_by_name.items():
        print(f"\nfuzz {name}: {sum(one.statuses.values())} requests, statuses {dict(sorted(one.statuses.items()))}")


# sqlite (make test) or postgres (a fresh database per service on KINERJA_TEST_PG_URL).
DATABASE = os.environ.get("FUZZ_DATABASE", "sqlite")
_CREATED: list[str] = []


def _database(tmp_path_factory, name: str) -> str:
    if DATABASE == "postgres":
        url, created = create_postgres_database()
        _CREATED.append(created)
        return url
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp(name)}/{name}.db"


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory) -> str:
    """The planning stage of Semester 1 2026 for every fuzzed service."""
    path = tmp_path_factory.mktemp("clock") / "clock"
    FileClock(path).set(datetime(2026, 1, 10, 10, 0, tzinfo=timezone(timedelta(hours=7))))
    return str(path)


@pytest.fixture(scope="module")
def planning(served, tmp_path_factory, fuzz_nats, clock_file) -> Served:
    settings = PlanningSettings(database_url=_database(tmp_path_factory, "planning"), nats_url=fuzz_nats.url,
                                roster_max_bytes=64 * 1024, period_tick_s=0, clock_file=clock_file,
                                period_region=PROVINCE)
    service = served(build_planning(settings)[1])
    _seed_planning(service)
    return service


def _seed_planning(service: Served) -> None:
    dinas = bearer("dinas", region=PROVINCE)
    post = lambda path, **kw: service.session.post(service.url + path, timeout=30, **kw)  # noqa: E731
    r = post("/v1/roster/imports", data=ROSTER.read_bytes(), headers={**dinas, "Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    r = post("/v1/periods", json={"policy": "pmm-2024", "year": 2026, "semester": 1}, headers=dinas)
    assert r.status_code == 201, r.text
    KNOWN["period_id"] = r.json()["period_id"]
    r = post(f"/v1/periods/{KNOWN['period_id']}/open", headers=dinas)
    assert r.status_code == 200, r.text
    # The sample teacher's plan written, submitted and agreed as `make demo` does: evidence and
    # assessment learn it from planning's events.
    ks = bearer("kepala_sekolah", nip=KS_NIP, npsn=NPSN, region=REGION)
    r = service.session.put(f"{service.url}/v1/schools/{NPSN}/priorities/{KNOWN['period_id']}",
                            json={"results": DEMO.RAPOR, "priorities": DEMO.PRIORITIES}, headers=ks, timeout=30)
    assert r.status_code == 200, r.text
    rubric = service.session.get(f"{service.url}/v1/policies", headers=ks, timeout=30).json()
    guru = bearer("guru", nip=GURU_NIP, npsn=NPSN, region=REGION)
    r = post("/v1/plans", json={"period_id": KNOWN["period_id"],
                                **DEMO.plan_steps(rubric, ["A.1", "D.1"], 2026, "fuzz")}, headers=guru)
    assert r.status_code == 201, r.text
    KNOWN["plan_id"] = r.json()["plan_id"]
    r = post(f"/v1/plans/{KNOWN['plan_id']}/submit", headers=guru)
    assert r.status_code == 200, r.text
    r = post(f"/v1/plans/{KNOWN['plan_id']}/approve", json={"perilaku_kerja": DEMO.EXPECTATIONS}, headers=ks)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def evidence(served, tmp_path_factory, fuzz_nats, s3_endpoint, clock_file, planning) -> Served:
    settings = EvidenceSettings(clock_file=clock_file,
        database_url=_database(tmp_path_factory, "evidence"), nats_url=fuzz_nats.url,
        s3_endpoint=s3_endpoint.endpoint, s3_access_key=s3_endpoint.access_key,
        s3_secret_key=s3_endpoint.secret_key, s3_secure=False,
        s3_bucket=f"kinerja-fuzz-{uuid.uuid4().hex[:12]}",
    )
    service = served(build_evidence(settings)[1])
    _wait_for(service, f"/v1/evidence?plan_id={KNOWN['plan_id']}",
              bearer("guru", nip=GURU_NIP, npsn=NPSN, region=REGION))
    return service


def _wait_for(service: Served, path: str, headers: dict[str, str], timeout: float = 60) -> None:
    """Until the service has the seeded plan from planning's events (its consumer catches up)."""
    deadline = time.monotonic() + timeout
    while (r := service.session.get(service.url + path, headers=headers, timeout=30)).status_code != 200:
        assert time.monotonic() < deadline, f"{path}: {r.status_code} {r.text}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def assessment(served, tmp_path_factory, fuzz_nats, clock_file, planning) -> Served:
    settings = AssessmentSettings(database_url=_database(tmp_path_factory, "assessment"), nats_url=fuzz_nats.url,
                                  clock_file=clock_file)
    return served(build_assessment(settings)[1])


@pytest.fixture(scope="module")
def ekinerja_sync(served, tmp_path_factory, fuzz_nats, clock_file, planning) -> Served:
    simulator_url, stop = _serve(simulator_app(SimulatorSettings(retry_after_s=1)))
    try:
        settings = SyncSettings(database_url=_database(tmp_path_factory, "sync"), nats_url=fuzz_nats.url,
                                ekinerja_base_url=simulator_url, ekinerja_timeout_s=2.0, clock_file=clock_file)
        yield served(build_sync(settings)[1])
    finally:
        stop()


@planning_schema.parametrize()
def test_planning(case, planning):
    planning.check(case)


@evidence_schema.parametrize()
def test_evidence(case, evidence):
    evidence.check(case)


@assessment_schema.parametrize()
def test_assessment(case, assessment):
    assessment.check(case)


@sync_schema.parametrize()
def test_ekinerja_sync(case, ekinerja_sync):
    ekinerja_sync.check(case)
