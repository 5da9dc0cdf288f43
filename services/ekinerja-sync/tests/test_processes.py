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
from kinerja_shared.testing.servers import free_port, nats_client_options, wait_for_port

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

        nc = await nats.connect(**nats_client_options(nats_server.url))
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


async def test_sync_killed_mid_request_and_restarted_leaves_one_record(nats_server, database_url, tmp_path, make_finalized, new_nip):
    """kill -9 of the service while BKN holds a save it already stored (the answer hangs), a
    second result arriving while the service is down; after the restart the interrupted call
    is noted, e-Kinerja is read first and the record found, the second one is sent: one record
    each in the simulator."""
    sim_port, port = free_port(), free_port()
    sim = f"http://127.0.0.1:{sim_port}"
    simulator = spawn([str(BIN / "ekinerja-simulator")], {"KINERJA_SIM_HTTP_PORT": str(sim_port)}, tmp_path / "sim.log")
    env = {
        "KINERJA_SERVICE_NAME": "ekinerja-sync", "KINERJA_DATABASE_URL": database_url,
        "KINERJA_NATS_URL": nats_server.url, "KINERJA_HTTP_HOST": "127.0.0.1", "KINERJA_HTTP_PORT": str(port),
        "KINERJA_EKINERJA_BASE_URL": sim, "KINERJA_EKINERJA_POLL_INTERVAL_S": "0.1",
        # lease = 4 x timeout + 5 s: the interrupted call is retried about 9 s after it started
        "KINERJA_EKINERJA_TIMEOUT_S": "1", "KINERJA_EKINERJA_BACKOFF_BASE_S": "0.1",
    }
    processes = [simulator]
    import nats

    nc = await nats.connect(**nats_client_options(nats_server.url))
    try:
        wait_for_port(sim_port, timeout=30)
        httpx.put(f"{sim}/simulator/faults", json={"next_hang_after_save": 1, "hang_after_save_s": 60},
                  timeout=5).raise_for_status()
        sync = spawn([str(BIN / "kinerja-ekinerja-sync")], env, tmp_path / "sync-1.log")
        processes.append(sync)
        wait_for_port(port, timeout=60)

        async def publish(event):
            envelope = make_envelope(event, producer="assessment", region="020500", correlation_id=str(uuid.uuid4()))
            await nc.jetstream().publish(envelope.subject(), envelope.model_dump_json().encode(),
                                         headers={"Nats-Msg-Id": envelope.event_id})

        first, second = new_nip(), new_nip()
        await publish(make_finalized(first))
        deadline = time.monotonic() + 30
        while httpx.get(f"{sim}/simulator/stats", timeout=5).json()["calls"].get("hung_after_save", 0) < 1:
            assert time.monotonic() < deadline, (tmp_path / "sync-1.log").read_text()[-3000:]
            time.sleep(0.1)
        assert httpx.get(f"{sim}/simulator/stats", timeout=5).json()["count"] == 1  # stored, unanswered
        os.killpg(sync.pid, signal.SIGKILL)  # mid-request
        sync.wait(10)

        await publish(make_finalized(second))  # arrives while the service is down
        restarted = spawn([str(BIN / "kinerja-ekinerja-sync")], env, tmp_path / "sync-2.log")
        processes.append(restarted)
        wait_for_port(port, timeout=60)
        base = f"http://127.0.0.1:{port}"

        def record(nip):
            r = httpx.get(f"{base}/v1/sync-log/teachers/{nip}", headers=bearer("dinas", region="020500"), timeout=10)
            records = r.json().get("records", [])
            return records[0] if records and records[0]["status"] == "acknowledged" else None

        deadline = time.monotonic() + 60
        while not (record(first) and record(second)):
            assert time.monotonic() < deadline, (tmp_path / "sync-2.log").read_text()[-3000:]
            time.sleep(0.3)
        outcomes = [(a["attempt"], a["outcome"]) for a in record(first)["attempts"]]
        assert outcomes == [(1, "interrupted"), (2, "already_stored")], outcomes
        assert [a["outcome"] for a in record(second)["attempts"]] == ["acknowledged"]
        stats = httpx.get(f"{sim}/simulator/records", timeout=10).json()
        assert stats["count_by_nip_period"] == {f"{first}/2026/1-6": 1, f"{second}/2026/1-6": 1}
        assert stats["duplicates"] == {} and stats["calls"]["save"] == 2
    finally:
        await nc.close()
        for process in reversed(processes):
            stop(process)
