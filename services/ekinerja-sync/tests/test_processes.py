"""The console scripts start the simulator and the service with no arguments, configured only by
environment variables, and a result published on JetStream reaches the simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from kinerja_shared.events import make_envelope
from kinerja_shared.testing.http import bearer
from kinerja_shared.testing.servers import free_port, wait_for_port

BIN = Path(sys.executable).parent


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.mark.parametrize("runner", ["console_script", "python_m"])
async def test_service_and_simulator_run_as_processes(runner, nats_server, database_url, tmp_path, make_finalized, new_nip):
    sim_port, port = free_port(), free_port()
    if runner == "console_script":
        sim_cmd, sync_cmd = [str(BIN / "ekinerja-simulator")], [str(BIN / "kinerja-ekinerja-sync")]
    else:
        sim_cmd = [sys.executable, "-m", "ekinerja_simulator"]
        sync_cmd = [sys.executable, "-m", "kinerja_ekinerja_sync"]
    processes = [spawn(sim_cmd, {"KINERJA_SIM_HTTP_PORT": str(sim_port)}, tmp_path / "sim.log")]
    try:
        wait_for_port(sim_port, timeout=30)
        processes.append(spawn(sync_cmd, {
            "KINERJA_SERVICE_NAME": "ekinerja-sync",
            "KINERJA_DATABASE_URL": database_url,
            "KINERJA_NATS_URL": nats_server.url,
            "KINERJA_HTTP_HOST": "127.0.0.1",
            "KINERJA_HTTP_PORT": str(port),
            "KINERJA_EKINERJA_BASE_URL": f"http://127.0.0.1:{sim_port}",
            "KINERJA_EKINERJA_POLL_INTERVAL_S": "0.1",
        }, tmp_path / "sync.log"))
        wait_for_port(port, timeout=60)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200

        nip = new_nip()
        event = make_finalized(nip)
        import nats

        nc = await nats.connect(nats_server.url)
        envelope = make_envelope(event, producer="assessment", region="020500", correlation_id=str(uuid.uuid4()))
        await nc.jetstream().publish(envelope.subject(), envelope.model_dump_json().encode(),
                                     headers={"Nats-Msg-Id": envelope.event_id})
        await nc.close()

        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            r = httpx.get(f"{base}/v1/sync-log/teachers/{nip}", headers=bearer("guru", nip=nip), timeout=10)
            records = r.json().get("records", [])
            status = records[0]["status"] if records else None
            if status == "acknowledged":
                break
            time.sleep(0.2)
        assert status == "acknowledged", (tmp_path / "sync.log").read_text()[-3000:]
        stored = httpx.get(f"http://127.0.0.1:{sim_port}/simulator/records", timeout=10).json()
        assert stored["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
        assert "SIMULATOR" in (tmp_path / "sim.log").read_text()
    finally:
        for process in reversed(processes):
            stop(process)
