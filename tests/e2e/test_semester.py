"""End to end: the four services and the e-Kinerja simulator as processes, one semester from
plan to e-Kinerja through the public APIs, checked through the APIs, the simulator's records and
the event stream. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import json
from collections import Counter

import httpx
import nats
import pytest

from demo import NPSN, RATINGS, REGION, auth, run_semester, teachers
from stack import Ports, Stack

from kinerja_shared.testing.servers import nats_client_options

pytestmark = pytest.mark.e2e

PREDIKAT_CODE = {
    ("DI_ATAS", "DI_ATAS"): 1, ("DI_ATAS", "SESUAI"): 2, ("SESUAI", "SESUAI"): 2,
    ("DI_BAWAH", "SESUAI"): 3, ("SESUAI", "DI_BAWAH"): 4, ("DI_BAWAH", "DI_BAWAH"): 5,
}
RATING_CODE = {"DI_ATAS": 1, "SESUAI": 2, "DI_BAWAH": 3}


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request, tmp_path, postgres_admin):
    s = Stack(tmp_path, Ports.free(), database=request.param)
    s.start()
    yield s
    s.stop()


async def stream_events(url: str) -> list[dict]:
    nc = await nats.connect(**nats_client_options(url))
    js = nc.jetstream()
    events = []
    for stream in ("KINERJA_PLANNING", "KINERJA_EVIDENCE", "KINERJA_ASSESSMENT", "KINERJA_EKINERJA", "KINERJA_DEAD_LETTERS"):
        info = await js.stream_info(stream)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            msg = await js.get_msg(stream, seq)
            events.append({"stream": stream, "subject": msg.subject, "headers": msg.headers or {},
                           "data": json.loads(msg.data) if stream != "KINERJA_DEAD_LETTERS" else msg.data})
    await nc.close()
    return events


def test_one_semester_from_plan_to_ekinerja(stack):
    result = run_semester(stack, out=lambda _line: None)
    assert result.ok, result.table()
    assert len(result.rows) == 6
    assert result.distinct_predikat >= 3
    assert result.mirrored == 6

    # The simulator holds exactly one record per teacher and period, with the right codes.
    records = httpx.get(f"{stack.simulator_url}/simulator/records", timeout=10).json()
    assert records["count"] == 6
    assert all(n == 1 for n in records["count_by_nip_period"].values())
    by_nip = {r["pnsDinilaiId"]: r for r in records["records"]}
    for teacher, ratings in zip(teachers(), RATINGS):
        record = by_nip[teacher["nip"]]
        assert record["hasilKinerjaNilai"] == RATING_CODE[ratings[0]]
        assert record["perilakuKerjaNilai"] == RATING_CODE[ratings[1]]
        assert record["kuadranKinerjaNilai"] == PREDIKAT_CODE[ratings]
        assert record["bulanMulaiPenilaian"] == 1 and record["bulanSelesaiPenilaian"] == 6
        assert record["penilaiNipNrp"] == "197204151998022001"

    # The event stream tells the same story, every event in its envelope and on its subject.
    events = asyncio.run(stream_events(stack.nats_url))
    dead = [e for e in events if e["stream"] == "KINERJA_DEAD_LETTERS"]
    assert dead == [], dead
    # Each service ran the semester as its own NATS user, within its permissions: the server
    # logs every refused publish or subscription ("Publish Violation", "Subscription Violation").
    connz = httpx.get(f"{stack.nats.monitor_url}/connz", params={"auth": "true"}, timeout=10).json()
    users = {c.get("authorized_user") for c in connz["connections"]}
    assert {"planning", "evidence", "assessment", "ekinerja-sync"} <= users, users
    violations = [line for line in (stack.logs / "nats.log").read_text().splitlines() if "Violation" in line]
    assert violations == [], violations[:5]
    types = Counter(e["data"]["type"] for e in events)
    assert types["planning.roster.imported"] >= 1
    assert types["planning.period.opened"] == 1
    assert types["planning.plan.submitted"] == 7  # six plans and one resubmission
    assert types["planning.plan.returned"] == 1
    assert types["planning.plan.approved"] == 6
    assert types["evidence.evidence.uploaded"] == 6
    assert types["assessment.assessment.finalized"] == 6
    assert types["ekinerja.sync.succeeded"] == 6
    for e in events:
        env = e["data"]
        assert e["headers"]["Nats-Msg-Id"] == env["event_id"]
        assert e["subject"].startswith(f"kinerja.{env['type']}.")
        assert env["correlation_id"]
    school_events = [e for e in events if not e["data"]["type"].startswith("planning.period.")]
    assert all(e["subject"].endswith(".020000.020500") for e in school_events)

    # The sync log answers per teacher (the teacher themself) and refuses another teacher.
    first, second = teachers()[0]["nip"], teachers()[1]["nip"]
    own = httpx.get(f"{stack.url('ekinerja-sync')}/v1/sync-log/teachers/{first}", params={"kind": "hasil"},
                    headers=auth("guru", nip=first, npsn=NPSN), timeout=10)
    assert own.status_code == 200 and own.json()["records"][0]["status"] == "acknowledged"
    other = httpx.get(f"{stack.url('ekinerja-sync')}/v1/sync-log/teachers/{first}",
                      headers=auth("guru", nip=second, npsn=NPSN), timeout=10)
    assert other.status_code == 403
    assert other.json()["error"]["code"]


def test_results_finalized_while_ekinerja_sync_is_down_arrive_exactly_once(tmp_path):
    """Kill ekinerja-sync (SIGKILL) before the assessments are finalized, finalize them all,
    start it again: every result reaches e-Kinerja exactly once."""
    s = Stack(tmp_path, Ports.free())
    s.start()
    try:
        s.kill("ekinerja-sync")
        result = run_semester(s, out=lambda _line: None, sync_timeout=3)
        assert result.mirrored == 0  # nothing could be mirrored while the service was down
        s.start_again("ekinerja-sync")

        def mirrored():
            r = httpx.get(f"{s.url('ekinerja-sync')}/v1/sync-log/schools/{NPSN}", params={"kind": "hasil"},
                          headers=auth("dinas", region=REGION), timeout=10)
            records = r.json()["records"]
            return len(records) == 6 and all(x["status"] == "acknowledged" for x in records)

        deadline = time.monotonic() + 60
        while not mirrored():
            assert time.monotonic() < deadline, "results not mirrored after the restart"
            time.sleep(0.3)
        records = httpx.get(f"{s.simulator_url}/simulator/records", timeout=10).json()
        assert records["count"] == 6
        assert sorted(records["count_by_nip_period"].values()) == [1] * 6
    finally:
        s.stop()


def test_services_ride_out_a_nats_restart(tmp_path):
    """NATS is killed and started again (same store) after the stack is up: the services
    reconnect on their own and the whole semester still ends in e-Kinerja."""
    s = Stack(tmp_path, Ports.free())
    s.start()
    try:
        s.nats.kill()
        time.sleep(2)
        s.nats.start()
        result = run_semester(s, out=lambda _line: None)
        assert result.ok, result.table()
        records = httpx.get(f"{s.simulator_url}/simulator/records", timeout=10).json()
        assert records["count"] == 6
    finally:
        s.stop()
