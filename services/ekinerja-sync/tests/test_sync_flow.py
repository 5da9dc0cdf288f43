"""ekinerja-sync for real: AssessmentFinalized on a real JetStream, the real simulator over HTTP
(uvicorn on a free port), SQLite and PostgreSQL. Checked through the simulator's records, the
sync log API and the events on the KINERJA_EKINERJA stream."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime

import nats
import pytest
from sqlmodel import select

from kinerja_ekinerja_sync.adapters.tables import SyncRecord
from kinerja_ekinerja_sync.bootstrap import build
from kinerja_ekinerja_sync.settings import Settings
from kinerja_shared.events import PersonRef, make_envelope
from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.testing.http import bearer, running_app
from kinerja_shared.testing.servers import nats_client_options
from kinerja_shared.testing.wait import eventually

NPSN = "20212345"
OTHER_NPSN = "20299999"
REGION = "020500"
DINAS = bearer("dinas", region=REGION)


class SyncService:
    def __init__(self, runtime, http, js) -> None:
        self.runtime, self.http, self.js = runtime, http, js

    async def publish(self, event, *, copies: int = 1, region: str = REGION) -> None:
        """Publish one envelope; extra copies carry other Nats-Msg-Ids so JetStream keeps them
        (a redelivery as the consumer would see it)."""
        envelope = make_envelope(event, producer="assessment", region=region, correlation_id=str(uuid.uuid4()))
        for i in range(copies):
            msg_id = envelope.event_id if i == 0 else f"{envelope.event_id}:copy{i}"
            await self.js.publish(envelope.subject(), envelope.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id})

    async def log(self, nip: str) -> dict:
        r = await self.http.get(f"/v1/sync-log/teachers/{nip}", headers=DINAS)
        assert r.status_code == 200, r.text
        return r.json()

    async def record_with_status(self, nip: str, *statuses: str, version: int | None = None):
        async def check():
            for record in (await self.log(nip))["records"]:
                if record["status"] in statuses and (version is None or record["assessment_version"] == version):
                    return record
            return None

        return await eventually(check, what=f"{nip} in {statuses}")

    async def events(self, assessment_id: str) -> list[dict]:
        info = await self.js.stream_info("KINERJA_EKINERJA")
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            try:
                msg = await self.js.get_msg("KINERJA_EKINERJA", seq)
            except Exception:
                continue
            doc = json.loads(msg.data)
            if doc["payload"]["assessment_id"] == assessment_id:
                found.append({**doc, "subject": msg.subject})
        return found

    async def events_of(self, assessment_id: str, n: int) -> list[dict]:
        async def check():
            found = await self.events(assessment_id)
            return found if len(found) >= n else None

        return await eventually(check, what=f"{n} ekinerja events")

    async def rows(self, nip: str) -> list[SyncRecord]:
        async with self.runtime.session_factory() as s:
            return (await s.exec(select(SyncRecord).where(SyncRecord.teacher_nip == nip))).all()


@pytest.fixture
def start_sync(run_sync):
    async def start(**overrides) -> SyncService:
        return SyncService(*await run_sync(**overrides))

    return start


@pytest.fixture
async def sync(start_sync) -> SyncService:
    return await start_sync()


async def test_a_final_result_becomes_one_ekinerja_record_and_one_success_event(sync, simulator, make_finalized, new_nip):
    nip = new_nip()
    event = make_finalized(nip)
    await sync.publish(event, copies=3)  # the same event delivered three times
    record = await sync.record_with_status(nip, "acknowledged")
    await asyncio.sleep(0.5)  # room for any duplicate to show up

    stored = simulator.records()
    assert stored["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    [siasn] = [r for r in stored["records"] if r["pnsDinilaiId"] == nip]
    assert (siasn["hasilKinerjaNilai"], siasn["perilakuKerjaNilai"], siasn["kuadranKinerjaNilai"]) == (1, 2, 2)
    assert siasn["koefisienId"] == "1" and siasn["penilaiNipNrp"] == "197204151998022001"
    assert siasn["statusPenilai"] == "ASN" and siasn["penilaiUnorNama"] == "SD Negeri 1 Cibinong"

    assert record["ekinerja_record_id"] == siasn["id"]
    assert record["school_npsn"] == NPSN and record["assessment_id"] == event.assessment_id
    [attempt] = record["attempts"]
    assert (attempt["attempt"], attempt["outcome"], attempt["http_status"]) == (1, "acknowledged", 200)
    assert attempt["message"] == "Data berhasil disimpan" and attempt["responsible_actor"] is None
    datetime.fromisoformat(attempt["at"])
    assert len(await sync.rows(nip)) == 1

    [succeeded] = await sync.events_of(event.assessment_id, 1)
    assert succeeded["type"] == "ekinerja.sync.succeeded"
    assert succeeded["subject"] == "kinerja.ekinerja.sync.succeeded.020000.020500"
    assert succeeded["payload"]["ekinerja_record_id"] == siasn["id"] and succeeded["payload"]["attempt"] == 1
    assert (succeeded["payload"]["outcome"], succeeded["payload"]["message"]) == ("acknowledged", "Data berhasil disimpan")
    assert succeeded["producer"] == "ekinerja-sync" and succeeded["region"] == REGION

    # A second envelope (new event id) for the same assessment version changes nothing either.
    await sync.publish(event)
    await asyncio.sleep(1.0)
    assert simulator.records()["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    assert len(await sync.rows(nip)) == 1
    assert len(await sync.events(event.assessment_id)) == 1


async def test_5xx_and_429_are_retried_until_exactly_one_record(sync, simulator, make_finalized, new_nip):
    simulator.faults(next_429=1, next_5xx=2, retry_after_s=1)
    nip = new_nip()
    event = make_finalized(nip)
    await sync.publish(event)
    record = await sync.record_with_status(nip, "acknowledged")
    outcomes = [(a["attempt"], a["outcome"], a["http_status"], a["responsible_actor"]) for a in record["attempts"]]
    assert outcomes == [
        (1, "rate_limited", 429, "bkn"),
        (2, "server_error", 503, "bkn"),
        (3, "server_error", 503, "bkn"),
        (4, "acknowledged", 200, None),
    ]
    # Retry-After was honoured between the 429 and the next attempt.
    at = [datetime.fromisoformat(a["at"]) for a in record["attempts"]]
    assert (at[1] - at[0]).total_seconds() >= 1.0
    assert simulator.records()["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    events = await sync.events_of(event.assessment_id, 4)
    assert [e["type"] for e in events] == ["ekinerja.sync.failed"] * 3 + ["ekinerja.sync.succeeded"]
    assert [e["payload"].get("status") for e in events[:3]] == ["retrying"] * 3
    assert [e["payload"]["http_status"] for e in events[:3]] == [429, 503, 503]


async def test_stored_but_answered_5xx_is_not_sent_twice(sync, simulator, make_finalized, new_nip):
    simulator.faults(next_5xx_after_save=1)
    nip = new_nip()
    event = make_finalized(nip)
    await sync.publish(event)
    record = await sync.record_with_status(nip, "acknowledged")
    assert [(a["outcome"], a["http_status"]) for a in record["attempts"]] == [("server_error", 502), ("already_stored", 200)]
    stored = simulator.records()
    assert stored["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    assert stored["calls"]["save"] == 1 and stored["calls"]["read"] == 1
    assert record["ekinerja_record_id"] == stored["records"][0]["id"]


async def test_connection_dropped_after_save_is_not_sent_twice(sync, simulator, make_finalized, new_nip):
    # The duplicate-maker: BKN stored it, then the connection broke before we read the id.
    simulator.faults(next_drop_after_save=1)
    nip = new_nip()
    event = make_finalized(nip)
    await sync.publish(event)
    record = await sync.record_with_status(nip, "acknowledged")
    assert [(a["outcome"], a["http_status"]) for a in record["attempts"]] == [("connection_error", None), ("already_stored", 200)]
    stored = simulator.records()
    assert stored["calls"]["dropped_after_save"] == 1 and stored["calls"]["save"] == 1
    assert stored["count_by_nip_period"] == {f"{nip}/2026/1-6": 1} and stored["duplicates"] == {}
    assert record["ekinerja_record_id"] == stored["records"][0]["id"]


async def test_a_timeout_reads_first_then_sends_once(sync, simulator, make_finalized, new_nip):
    # The simulator hangs longer than the client waits (2 s) and stores nothing.
    simulator.faults(next_timeout=1, timeout_hang_s=3)
    nip = new_nip()
    event = make_finalized(nip)
    await sync.publish(event)
    record = await sync.record_with_status(nip, "acknowledged")
    outcomes = [(a["outcome"], a["responsible_actor"]) for a in record["attempts"]]
    assert outcomes[0] == ("timeout", "bkn") and outcomes[-1][0] == "acknowledged"
    stored = simulator.records()
    assert stored["calls"]["timeout"] == 1 and stored["calls"]["read"] >= 1
    assert stored["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}


async def test_unknown_nip_is_parked_with_the_message_and_the_actor(sync, simulator, make_finalized, new_nip):
    nip = new_nip()
    simulator.faults(unknown_nips=[nip])
    event = make_finalized(nip)
    await sync.publish(event)
    record = await sync.record_with_status(nip, "parked")
    assert record["message"] == "NIP tidak ditemukan di SIASN" and record["responsible_actor"] == "bkd"
    [attempt] = record["attempts"]
    assert (attempt["outcome"], attempt["http_status"], attempt["responsible_actor"]) == ("rejected", 400, "bkd")
    [failed] = await sync.events_of(event.assessment_id, 1)
    assert failed["type"] == "ekinerja.sync.failed"
    assert failed["payload"]["status"] == "parked" and failed["payload"]["responsible_actor"] == "bkd"
    assert failed["payload"]["message"] == "NIP tidak ditemukan di SIASN"
    assert failed["payload"]["outcome"] == "rejected" and failed["payload"]["http_status"] == 400
    await asyncio.sleep(0.5)  # parked stays parked: no further attempts
    assert len((await sync.log(nip))["records"][0]["attempts"]) == 1
    assert simulator.records()["count"] == 0
    r = await sync.http.get("/v1/sync-records", params={"status": "parked"}, headers=DINAS)
    assert any(x["teacher_nip"] == nip for x in r.json()["records"])


async def test_after_max_attempts_the_system_parks_it(start_sync, simulator, make_finalized, new_nip):
    sync = await start_sync(ekinerja_max_attempts=3)
    simulator.faults(rate_5xx=1.0)
    nip = new_nip()
    event = make_finalized(nip)
    await sync.publish(event)
    record = await sync.record_with_status(nip, "parked")
    assert [a["outcome"] for a in record["attempts"]] == ["server_error"] * 3
    assert record["responsible_actor"] == "sistem" and record["message"].startswith("Gagal setelah 3 percobaan")
    events = await sync.events_of(event.assessment_id, 3)
    assert [e["payload"]["status"] for e in events] == ["retrying", "retrying", "parked"]
    assert events[-1]["payload"]["responsible_actor"] == "sistem"
    assert simulator.records()["count"] == 0


async def test_a_correction_updates_the_same_ekinerja_record(sync, simulator, make_finalized, new_nip):
    nip = new_nip()
    first = make_finalized(nip)
    await sync.publish(first)
    v1 = await sync.record_with_status(nip, "acknowledged", version=1)
    second = first.model_copy(update={
        "assessment_version": 2, "rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS",
        "predikat": "SANGAT_BAIK", "predikat_code": 1,
    })
    await sync.publish(second)
    v2 = await sync.record_with_status(nip, "acknowledged", version=2)
    assert v2["ekinerja_record_id"] == v1["ekinerja_record_id"]
    stored = simulator.records()
    assert stored["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    assert stored["records"][0]["kuadranKinerjaNilai"] == 1
    # Version 1 arriving again late changes nothing.
    await sync.publish(first)
    await asyncio.sleep(0.5)
    assert len(await sync.rows(nip)) == 2 and simulator.records()["count"] == 1


async def test_results_that_cannot_be_sent_are_parked_or_skipped_without_calling_bkn(sync, simulator, make_finalized, new_nip):
    nip = new_nip()
    no_jenjang = make_finalized(teacher=PersonRef(
        nip=nip, name="Budi", role="guru", jenjang="", golongan="III/a", asn_status="PNS"))
    await sync.publish(no_jenjang)
    record = await sync.record_with_status(nip, "parked")
    assert record["responsible_actor"] == "operator_sekolah" and "Jenjang" in record["message"]
    assert [a["outcome"] for a in record["attempts"]] == ["not_sent"]
    [failed] = await sync.events_of(no_jenjang.assessment_id, 1)
    assert failed["payload"]["status"] == "parked" and failed["payload"]["attempt"] == 0

    honorer = new_nip()
    non_asn = make_finalized(teacher=PersonRef(
        nip=honorer, name="Ani", role="guru", jenjang="Ahli Pertama", asn_status="NON_ASN"))
    await sync.publish(non_asn)
    record = await sync.record_with_status(honorer, "skipped")
    assert record["attempts"] == [] and "non-ASN" in record["message"]
    await asyncio.sleep(0.3)
    assert simulator.records()["calls"].get("save", 0) == 0
    assert await sync.events(non_asn.assessment_id) == []


async def test_sync_log_access_rules(sync, simulator, make_finalized, new_nip):
    mine, other = new_nip(), new_nip()
    await sync.publish(make_finalized(mine))
    await sync.publish(make_finalized(other))
    await sync.record_with_status(mine, "acknowledged")
    await sync.record_with_status(other, "acknowledged")
    http = sync.http

    async def get(path, headers, **params):
        return await http.get(path, headers=headers, params=params)

    guru = bearer("guru", nip=mine, npsn=NPSN)
    r = await get(f"/v1/sync-log/teachers/{mine}", guru)
    assert r.status_code == 200 and r.json()["teacher_nip"] == mine
    assert r.json()["records"][0]["status"] == "acknowledged"
    r = await get(f"/v1/sync-log/teachers/{other}", guru)
    assert r.status_code == 403 and r.json()["error"]["code"] == "akses_log_sinkronisasi_ditolak"
    assert r.json()["error"]["message"] and r.json()["error"]["message_en"]
    assert (await get(f"/v1/sync-log/schools/{NPSN}", guru)).status_code == 403
    assert (await get("/v1/sync-records", guru)).status_code == 403

    ks = bearer("kepala_sekolah", nip="197204151998022001", npsn=NPSN)
    assert (await get(f"/v1/sync-log/teachers/{other}", ks)).status_code == 200
    r = await get(f"/v1/sync-log/schools/{NPSN}", ks)
    assert r.status_code == 200 and {mine, other} <= {x["teacher_nip"] for x in r.json()["records"]}
    other_ks = bearer("kepala_sekolah", nip="196805141993031002", npsn=OTHER_NPSN)
    assert (await get(f"/v1/sync-log/teachers/{mine}", other_ks)).status_code == 403
    assert (await get(f"/v1/sync-log/schools/{NPSN}", other_ks)).status_code == 403
    assert (await get(f"/v1/sync-log/teachers/{mine}", bearer("pengawas", nip="196805141993031002"))).status_code == 403

    r = await get("/v1/sync-records", DINAS, status="acknowledged")
    assert r.status_code == 200 and {mine, other} <= {x["teacher_nip"] for x in r.json()["records"]}
    assert all(x["status"] == "acknowledged" for x in r.json()["records"])
    # A dinas of another district may not read this school's log (test_access.py: without a
    # region claim, nothing at all).
    r = await get(f"/v1/sync-log/schools/{NPSN}", bearer("dinas", region="320100"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "akses_log_sinkronisasi_ditolak"

    # Bad input: JSON errors with stable codes, nothing changed.
    r = await get("/v1/sync-log/teachers/12345", DINAS)
    assert r.status_code == 400 and r.json()["error"]["code"] == "nip_tidak_valid"
    r = await get("/v1/sync-log/schools/abc", DINAS)
    assert r.status_code == 400 and r.json()["error"]["code"] == "npsn_tidak_valid"
    r = await get("/v1/sync-records", DINAS, status="hilang")
    assert r.status_code == 400 and r.json()["error"]["code"] == "status_tidak_dikenal"
    r = await get("/v1/sync-records", DINAS, limit=0)
    assert r.status_code == 422 and r.json()["error"]["code"] == "input_tidak_valid"
    r = await http.get(f"/v1/sync-log/teachers/{mine}")
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_tidak_ada"
    async with sync.runtime.session_factory() as s:
        assert len((await s.exec(select(SyncRecord))).all()) == 2
        assert len((await s.exec(select(OutboxMessage))).all()) == 2  # one success per record


async def test_two_replicas_share_the_work_without_duplicates(start_sync, simulator, make_finalized, new_nip):
    """Two instances on one database and one durable consumer: every result sent exactly once."""
    first = await start_sync(ekinerja_concurrency=2)
    second = await start_sync(ekinerja_concurrency=2)
    simulator.faults(next_5xx=3, next_429=2, retry_after_s=0)
    nips = [new_nip() for _ in range(8)]
    for nip in nips:
        await first.publish(make_finalized(nip))
    for nip in nips:
        await second.record_with_status(nip, "acknowledged")
    await asyncio.sleep(0.5)
    stored = simulator.records()
    assert {k: v for k, v in stored["count_by_nip_period"].items() if k.split("/")[0] in nips} == {
        f"{nip}/2026/1-6": 1 for nip in nips
    }
    async with first.runtime.session_factory() as s:
        records = (await s.exec(select(SyncRecord))).all()
    assert len(records) == 8 and all(r.status == "acknowledged" for r in records)


async def test_a_worker_that_died_mid_call_is_recovered_without_a_duplicate(sync, simulator, make_finalized, new_nip):
    """BKN stored the record, then our worker died before writing the outcome: the record stays
    "sending" until its lease passes; the next claim notes the interrupted attempt, reads
    e-Kinerja first and finds the record instead of sending it again."""
    nip = new_nip()
    event = make_finalized(nip)
    await sync.publish(event)
    done = await sync.record_with_status(nip, "acknowledged")
    async with sync.runtime.session_factory() as s:
        [row] = (await s.exec(select(SyncRecord).where(SyncRecord.teacher_nip == nip))).all()
        # Rewind to the moment after BKN stored it: in flight, lease already over.
        row.status, row.ambiguous, row.ekinerja_record_id = "sending", True, None
        row.next_attempt_at = row.updated_at.replace(year=2000)
        s.add(row)
        await s.commit()
    async def recovered():
        record = (await sync.log(nip))["records"][0]
        return record if record["status"] == "acknowledged" and len(record["attempts"]) == 3 else None

    record = await eventually(recovered)
    assert [(a["attempt"], a["outcome"]) for a in record["attempts"]] == [
        (1, "acknowledged"), (1, "interrupted"), (2, "already_stored"),
    ]
    assert record["ekinerja_record_id"] == done["ekinerja_record_id"]
    assert simulator.records()["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    assert simulator.records()["calls"]["save"] == 1


async def test_bkn_down_opens_the_breaker_then_a_probe_closes_it_and_each_result_lands_once(start_sync, simulator, make_finalized, new_nip):
    sync = await start_sync(ekinerja_breaker_failures=3, ekinerja_breaker_open_s=1.0, ekinerja_max_attempts=50)
    simulator.faults(rate_5xx=1.0)  # BKN down
    nips = [new_nip() for _ in range(4)]
    for nip in nips:
        await sync.publish(make_finalized(nip))

    async def breaker_open():
        r = await sync.http.get("/v1/sync-records", headers=DINAS)
        assert r.status_code == 200
        return r.json()["breaker"] if r.json()["breaker"]["state"] == "open" else None

    breaker = await eventually(breaker_open, what="breaker open")
    assert breaker["times_opened"] >= 1 and breaker["half_open_in_s"] <= 1.0
    metrics = (await sync.http.get("/metrics")).text
    assert "kinerja_ekinerja_breaker_state 2.0" in metrics
    # While open, BKN is left alone: the save count stands still for most of the open time.
    calls_before = simulator.records()["calls"]["save"]
    await asyncio.sleep(0.5)
    assert simulator.records()["calls"]["save"] - calls_before <= 1
    simulator.faults(rate_5xx=0.0)  # BKN back
    for nip in nips:
        record = await sync.record_with_status(nip, "acknowledged")
        assert record["attempts"][0]["outcome"] == "server_error"
    r = await sync.http.get("/v1/sync-records", headers=DINAS)
    assert r.json()["breaker"]["state"] == "closed"
    counts = simulator.records()["count_by_nip_period"]
    assert {n: counts.get(f"{n}/2026/1-6") for n in nips} == {n: 1 for n in nips}


# ---------------------------------------------------------------- re-queueing parked records


async def test_parked_record_is_requeued_by_dinas_after_the_fix(sync, simulator, make_finalized, new_nip):
    nip = new_nip()
    simulator.faults(unknown_nips=[nip])
    event = make_finalized(nip)
    await sync.publish(event)
    parked = await sync.record_with_status(nip, "parked")
    url = f"/v1/sync-records/{event.assessment_id}/retry"

    # Not a dinas role: refused, nothing changed.
    r = await sync.http.post(url, headers=bearer("guru", nip=nip))
    assert r.status_code == 403 and r.json()["error"]["code"] == "peran_tidak_diizinkan"
    r = await sync.http.post(url, headers=bearer("dinas", region="990100"))  # another region
    assert r.status_code == 404 and r.json()["error"]["code"] == "rekaman_tidak_ditemukan"
    r = await sync.http.post("/v1/sync-records/tidak-ada/retry", headers=DINAS)
    assert r.status_code == 404 and "tidak ditemukan" in r.json()["error"]["message"]
    assert (await sync.log(nip))["records"][0]["status"] == "parked"
    assert simulator.records()["count"] == 0

    simulator.faults(unknown_nips=[])  # BKD registered the NIP
    r = await sync.http.post(url, headers=DINAS)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    done = await sync.record_with_status(nip, "acknowledged")
    outcomes = [a["outcome"] for a in done["attempts"]]
    assert outcomes == ["rejected", "requeued", "acknowledged"]
    assert done["attempts"][0]["message"] == parked["message"] == "NIP tidak ditemukan di SIASN"
    assert simulator.records()["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}

    # Acknowledged now: a second retry is refused, nothing changes.
    r = await sync.http.post(url, headers=DINAS)
    assert r.status_code == 409 and r.json()["error"]["code"] == "rekaman_tidak_diparkir"
    assert [a["outcome"] for a in (await sync.record_with_status(nip, "acknowledged"))["attempts"]] == outcomes


async def test_max_attempts_count_from_the_requeue(start_sync, simulator, make_finalized, new_nip, database_url):
    sync = await start_sync(ekinerja_max_attempts=2, ekinerja_breaker_failures=100)
    simulator.faults(rate_5xx=1.0)
    nip = new_nip()
    event = make_finalized(nip)
    await sync.publish(event)
    await sync.record_with_status(nip, "parked")
    simulator.faults(rate_5xx=0.0, next_5xx=1)  # one more failure, then BKN is fine
    # The operator CLI, as a separate process on the same database.
    env = {**os.environ, "KINERJA_DATABASE_URL": database_url, "KINERJA_SERVICE_NAME": "ekinerja-sync"}
    done = subprocess.run(
        [sys.executable, "-m", "kinerja_ekinerja_sync.entrypoints.operator_cli", "retry", event.assessment_id,
         "--operator", "op-dinas-1"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    record = await sync.record_with_status(nip, "acknowledged")
    outcomes = [a["outcome"] for a in record["attempts"]]
    # Round 2 is not parked at once although attempt 3 > max_attempts 2.
    assert outcomes == ["server_error", "server_error", "requeued", "server_error", "acknowledged"]
    assert "op-dinas-1" in record["attempts"][2]["message"]
    assert simulator.records()["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    again = subprocess.run(
        [sys.executable, "-m", "kinerja_ekinerja_sync.entrypoints.operator_cli", "retry", event.assessment_id],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert again.returncode == 1 and "rekaman_tidak_diparkir" in again.stderr


# ---------------------------------------------------------------- reconciliation


async def test_reconciliation_finds_missing_extra_and_different_and_requeues_the_missing(sync, simulator, make_finalized, new_nip):
    import httpx

    nips = [new_nip() for _ in range(4)]
    events = [make_finalized(nip) for nip in nips]
    for event in events:
        await sync.publish(event)
    records = [await sync.record_with_status(nip, "acknowledged") for nip in nips]
    held = {r["id"]: r for r in simulator.records()["records"]}
    # nips[0]: BKN lost it. nips[1]: BKN holds a second one we never sent. nips[2]: BKN's differs.
    httpx.delete(f"{simulator.url}/simulator/records/{records[0]['ekinerja_record_id']}", timeout=5).raise_for_status()
    planted = {k: v for k, v in held[records[1]["ekinerja_record_id"]].items() if k not in ("id", "createdAt", "updatedAt")}
    extra = httpx.post(f"{simulator.url}/simulator/records", json=planted, timeout=5).json()
    changed = {k: v for k, v in held[records[2]["ekinerja_record_id"]].items() if k not in ("createdAt", "updatedAt")}
    changed["hasilKinerjaNilai"] = 3
    httpx.post(f"{simulator.url}/simulator/records", json=changed, timeout=5).raise_for_status()
    # Another period and another region are not part of this report.
    other = make_finalized(new_nip(), month_start=7, month_end=12)
    await sync.publish(other)
    await sync.record_with_status(other.teacher.nip, "acknowledged")

    r = await sync.http.get("/v1/reconciliation", params={"period": "2026-1-6", "region": REGION}, headers=DINAS)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["results"] == 4 and report["matched"] == 2  # nips[1] (beside its extra) and nips[3]
    assert [m["teacher_nip"] for m in report["missing"]] == [nips[0]]
    assert [(e["teacher_nip"], e["ekinerja_record_id"]) for e in report["extra"]] == [(nips[1], extra["id"])]
    assert [(d["teacher_nip"], d["fields"]) for d in report["different"]] == [
        (nips[2], {"hasilKinerjaNilai": {"kinerja": 1, "ekinerja": 3}})
    ]
    assert report["requeued"] == [] and report["unreadable"] == []

    # Bad input: stable codes, nothing re-queued.
    r = await sync.http.get("/v1/reconciliation", params={"period": "2026-7-1", "region": REGION}, headers=DINAS)
    assert r.status_code == 400 and r.json()["error"]["code"] == "periode_tidak_valid"
    r = await sync.http.post("/v1/reconciliation", params={"period": "2026-1-6", "region": "02"}, headers=DINAS)
    assert r.status_code == 400 and r.json()["error"]["code"] == "wilayah_tidak_valid"
    r = await sync.http.post("/v1/reconciliation", params={"period": "2026-1-6", "region": REGION, "requeue_missing": True},
                             headers=bearer("kepala_sekolah", npsn=NPSN))
    assert r.status_code == 403 and r.json()["error"]["code"] == "peran_tidak_diizinkan"
    r = await sync.http.get("/v1/reconciliation", params={"period": "2026-1-6", "region": "030100"}, headers=DINAS)
    assert r.status_code == 403 and r.json()["error"]["code"] == "rekonsiliasi_ditolak"
    assert (await sync.record_with_status(nips[0], "acknowledged"))["ekinerja_record_id"] == records[0]["ekinerja_record_id"]

    r = await sync.http.post("/v1/reconciliation", params={"period": "2026-1-6", "region": REGION, "requeue_missing": True}, headers=DINAS)
    assert r.status_code == 200 and r.json()["requeued"] == [events[0].assessment_id]

    async def resent():
        rec = (await sync.log(nips[0]))["records"][0]
        return rec if rec["status"] == "acknowledged" and rec["ekinerja_record_id"] not in (None, records[0]["ekinerja_record_id"]) else None

    again = await eventually(resent, what="missing one re-sent")
    assert [a["outcome"] for a in again["attempts"]] == ["acknowledged", "requeued", "acknowledged"]
    counts = simulator.records()["count_by_nip_period"]
    assert counts[f"{nips[0]}/2026/1-6"] == 1
    report = (await sync.http.get("/v1/reconciliation", params={"period": "2026-1-6", "region": REGION}, headers=DINAS)).json()
    assert report["missing"] == [] and report["matched"] == 3

    # e-Kinerja away: not a report of nothing but "unreadable", a 503 saying when to come back.
    simulator.faults(reads_down=True)
    r = await sync.http.get("/v1/reconciliation", params={"period": "2026-1-6", "region": REGION}, headers=DINAS)
    simulator.faults(reads_down=False)
    assert r.status_code == 503 and r.json()["error"]["code"] == "ekinerja_tidak_tersedia", r.text
    assert r.headers["Retry-After"] == "30"


async def test_scheduled_reconciliation_and_the_cli_report(start_sync, simulator, make_finalized, new_nip, database_url):
    import httpx

    sync = await start_sync(
        ekinerja_reconcile_targets=f"2026-1-6@{REGION}", ekinerja_reconcile_interval_s=0.3,
        ekinerja_reconcile_requeue_missing=True,
    )
    nip = new_nip()
    await sync.publish(make_finalized(nip))
    first = await sync.record_with_status(nip, "acknowledged")
    # The CLI sees the same as the API (a separate process, same database).
    env = {**os.environ, "KINERJA_DATABASE_URL": database_url, "KINERJA_EKINERJA_BASE_URL": simulator.url}
    cli = subprocess.run(
        [sys.executable, "-m", "kinerja_ekinerja_sync.entrypoints.operator_cli", "reconcile",
         "--period", "2026-1-6", "--region", REGION],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout.strip().splitlines()[-1])["missing"] == []
    bad = subprocess.run(
        [sys.executable, "-m", "kinerja_ekinerja_sync.entrypoints.operator_cli", "reconcile",
         "--period", "2026-13-1", "--region", REGION],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 1 and "periode_tidak_valid" in bad.stderr
    # BKN loses it: the job notices and re-sends it, once.
    httpx.delete(f"{simulator.url}/simulator/records/{first['ekinerja_record_id']}", timeout=5).raise_for_status()

    async def resent():
        rec = (await sync.log(nip))["records"][0]
        return rec if rec["ekinerja_record_id"] not in (None, first["ekinerja_record_id"]) and rec["status"] == "acknowledged" else None

    again = await eventually(resent, what="the job re-sent it")
    assert "Rekonsiliasi" in [a for a in again["attempts"] if a["outcome"] == "requeued"][0]["message"]
    assert simulator.records()["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    r = await sync.http.get("/v1/reconciliation/scheduled", headers=DINAS)
    assert r.status_code == 200 and f"2026-1-6@{REGION}" in r.json()["reports"]


# ---------------------------------------------------------------- corrections before the ack


def _corrected(event, version: int = 2):
    return event.model_copy(update={
        "assessment_version": version, "rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS",
        "predikat": "SANGAT_BAIK", "predikat_code": 1,
    })


async def test_a_correction_while_the_original_is_in_flight_updates_it_once_acknowledged(
    start_sync, simulator, make_finalized, new_nip
):
    """BKN is slow with version 1; version 2 arrives meanwhile: it waits for version 1's answer,
    then updates that record. One record, with version 2's values."""
    sync = await start_sync(ekinerja_timeout_s=5.0)
    simulator.faults(slow_ms=1500)
    nip = new_nip()
    first = make_finalized(nip)
    await sync.publish(first)

    async def in_flight():
        return [r for r in await sync.rows(nip) if r.status == "sending"]

    await eventually(in_flight, what="version 1 in flight")
    await sync.publish(_corrected(first))
    v2 = await sync.record_with_status(nip, "acknowledged", version=2)
    v1 = await sync.record_with_status(nip, "acknowledged", version=1)
    assert v2["ekinerja_record_id"] == v1["ekinerja_record_id"]
    stored = simulator.records()
    assert stored["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    assert stored["records"][0]["kuadranKinerjaNilai"] == 1  # the latest version's predikat


async def test_a_correction_after_an_ambiguous_failure_of_the_original_updates_that_record(
    start_sync, simulator, make_finalized, new_nip
):
    """Version 1 was stored by BKN but answered 502 (never acknowledged) and waits for its retry;
    version 2 arrives: version 1 is superseded, version 2 reads e-Kinerja first, finds version
    1's record for the same NIP and period and updates it instead of adding a second one."""
    sync = await start_sync(ekinerja_backoff_base_s=30.0, ekinerja_backoff_max_s=30.0)
    simulator.faults(next_5xx_after_save=1)
    nip = new_nip()
    first = make_finalized(nip)
    await sync.publish(first)
    v1 = await sync.record_with_status(nip, "retrying", version=1)
    assert [a["outcome"] for a in v1["attempts"]] == ["server_error"]
    assert simulator.records()["count"] == 1  # stored, though we heard 502

    await sync.publish(_corrected(first))
    v2 = await sync.record_with_status(nip, "acknowledged", version=2)
    stored = simulator.records()
    assert stored["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    [siasn] = stored["records"]
    assert siasn["kuadranKinerjaNilai"] == 1 and v2["ekinerja_record_id"] == siasn["id"]
    assert stored["calls"]["save"] == 2 and stored["calls"]["read"] >= 1  # one store, one update
    v1 = await sync.record_with_status(nip, "superseded", version=1)
    assert v1["message"] == "Digantikan oleh versi 2"


async def test_a_correction_delivered_before_the_original_leaves_one_record(sync, simulator, make_finalized, new_nip):
    nip = new_nip()
    first = make_finalized(nip)
    await sync.publish(_corrected(first))  # out of order: version 2 first
    await sync.record_with_status(nip, "acknowledged", version=2)
    await sync.publish(first)
    v1 = await sync.record_with_status(nip, "superseded", version=1)
    assert v1["attempts"] == []
    await asyncio.sleep(0.5)
    stored = simulator.records()
    assert stored["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    assert stored["records"][0]["kuadranKinerjaNilai"] == 1


# ---------------------------------------------------------------- NATS restarted


async def test_nats_restarted_while_results_are_queued_each_lands_once(
    nats_factory, database_url, simulator, make_finalized, new_nip
):
    """Results wait in the service (BKN down) and in JetStream while NATS is killed (-9) and
    started again on the same store: each result is in e-Kinerja exactly once and each
    success event is on the stream exactly once (the outbox relay resumed)."""
    server = nats_factory().start()
    options = dict(
        database_url=database_url, nats_url=server.url, ekinerja_base_url=simulator.url,
        ekinerja_timeout_s=2.0, ekinerja_backoff_base_s=0.05, ekinerja_backoff_max_s=0.3,
        ekinerja_poll_interval_s=0.05, consumer_backoff_base_s=0.05, outbox_poll_interval_s=0.1,
        ekinerja_breaker_failures=1000, ekinerja_max_attempts=1000,
    )
    runtime, app = build(Settings(**options))
    simulator.faults(rate_5xx=1.0)  # BKN down: results queue up here
    async with running_app(app) as http:
        nc = await nats.connect(**nats_client_options(server.url), max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        sync = SyncService(runtime, http, nc.jetstream())
        before = [new_nip() for _ in range(4)]
        events = {nip: make_finalized(nip) for nip in before}
        for nip in before:
            await sync.publish(events[nip])
        for nip in before:
            await sync.record_with_status(nip, "retrying")

        server.kill()
        simulator.faults(rate_5xx=0.0)  # BKN back while NATS is down: sends go on, events wait
        await asyncio.sleep(1.0)
        server.start()

        after = [new_nip() for _ in range(4)]
        for nip in after:
            events[nip] = make_finalized(nip)

        async def published():
            try:
                for nip in after:
                    await sync.publish(events[nip])
                return True
            except Exception:
                return False

        await eventually(published, what="publish after the restart")
        for nip in before + after:
            await sync.record_with_status(nip, "acknowledged")
        counts = simulator.records()["count_by_nip_period"]
        assert {n: counts.get(f"{n}/2026/1-6") for n in before + after} == {n: 1 for n in before + after}

        async def one_success_each():
            found = {}
            for nip, event in events.items():
                kinds = [e["type"] for e in await sync.events(event.assessment_id)]
                found[nip] = kinds.count("ekinerja.sync.succeeded")
            return found if all(v >= 1 for v in found.values()) else None

        found = await eventually(one_success_each, what="a success event per result", timeout=30)
        assert set(found.values()) == {1}
        await nc.close()


# ---------------------------------------------------------------- resuming from planning


def _roster_event(school_name: str, people: list[PersonRef], npsn: str = NPSN):
    from kinerja_shared.events import RosterImported, SchoolRef

    return RosterImported(import_id=str(uuid.uuid4()), school=SchoolRef(npsn=npsn, name=school_name, region=REGION),
                          people=people)


async def _publish_roster(sync: SyncService, roster, *, copies: int = 1, occurred_at=None) -> None:
    envelope = make_envelope(roster, producer="planning", region=REGION, correlation_id=str(uuid.uuid4()))
    if occurred_at is not None:
        envelope = envelope.model_copy(update={"occurred_at": occurred_at})
    for i in range(copies):
        msg_id = envelope.event_id if i == 0 else f"{envelope.event_id}:copy{i}"
        await sync.js.publish(envelope.subject(), envelope.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id})


def _guru(nip: str, **changes) -> PersonRef:
    fields = dict(nip=nip, name="Siti Rahmawati, S.Pd.", role="guru", jabatan="Guru Kelas", jenjang="Ahli Pertama",
                  golongan="III/a", asn_status="PNS", assessor_nip=KS_NIP)
    fields.update(changes)
    return PersonRef(**fields)


KS_NIP = "197204151998022001"
KS_FIXED_NIP = "197204151998022009"


def _ks(nip: str = KS_NIP, **changes) -> PersonRef:
    fields = dict(nip=nip, name="Dra. Sri Wahyuni", role="kepala_sekolah", jabatan="Kepala Sekolah",
                  jenjang="Ahli Madya", golongan="IV/a", asn_status="PNS")
    fields.update(changes)
    return PersonRef(**fields)


async def test_a_roster_import_that_fixes_the_reason_resumes_parked_records(start_sync, simulator, make_finalized, new_nip):
    """Three results parked for data the roster holds (the unit e-Kinerja does not know, the
    assessor's missing golongan, the assessor's wrong NIP) and one parked for a reason no
    roster fixes (the teacher's NIP unknown to SIASN). One roster import from planning,
    delivered three times: the first three resume once each, with who resumed them in the
    log, and land once; the fourth stays parked."""
    sync = await start_sync()
    unit_nip, golongan_nip, assessor_nip, teacher_nip = (new_nip() for _ in range(4))
    simulator.faults(unknown_units=["SD Negeri Satu Cibinong"], require_golongan=True,
                     unknown_nips=[teacher_nip, KS_NIP])
    ks_typo = _ks(nip=KS_NIP)
    no_golongan_ks = _ks(nip="196905121994032003", name="Drs. Ahmad Fauzi", golongan="")
    results = {
        unit_nip: make_finalized(unit_nip, assessor=_ks(nip="196905121994032004", name="Hj. Nur Aini")),
        golongan_nip: make_finalized(golongan_nip, assessor=no_golongan_ks),
        assessor_nip: make_finalized(assessor_nip, assessor=ks_typo),
        teacher_nip: make_finalized(teacher_nip, assessor=_ks(nip="196905121994032004", name="Hj. Nur Aini")),
    }
    results[unit_nip] = results[unit_nip].model_copy(update={"assessor_unit": "SD Negeri Satu Cibinong"})
    for result in results.values():
        await sync.publish(result)
    parked = {nip: await sync.record_with_status(nip, "parked") for nip in results}
    assert parked[unit_nip]["responsible_actor"] == "operator_dinas" and "Unor" in parked[unit_nip]["message"]
    assert parked[golongan_nip]["responsible_actor"] == "operator_sekolah" and "Golongan" in parked[golongan_nip]["message"]
    assert parked[assessor_nip]["responsible_actor"] == "operator_sekolah" and "NIP penilai" in parked[assessor_nip]["message"]
    assert parked[teacher_nip]["responsible_actor"] == "bkd"

    # The fix in planning (e-Kinerja still refuses the old unit name, an ASN assessor without a
    # golongan and the wrong NIP): the school's name as SIASN knows the unit, the golongan,
    # the other principal's NIP corrected (same person, same name). The teacher's NIP stays.
    roster = _roster_event("SD Negeri 1 Cibinong", [
        _ks(nip="196905121994032004", name="Hj. Nur Aini"),
        _ks(nip=no_golongan_ks.nip, name=no_golongan_ks.name, golongan="IV/b"),
        _ks(nip=KS_FIXED_NIP),
        _guru(unit_nip, assessor_nip="196905121994032004"),
        _guru(golongan_nip, assessor_nip=no_golongan_ks.nip),
        _guru(assessor_nip, assessor_nip=KS_FIXED_NIP),
        _guru(teacher_nip, assessor_nip="196905121994032004", golongan="III/b"),
    ])
    await _publish_roster(sync, roster, copies=3)

    done = {nip: await sync.record_with_status(nip, "acknowledged") for nip in (unit_nip, golongan_nip, assessor_nip)}
    for nip, record in done.items():
        outcomes = [a["outcome"] for a in record["attempts"]]
        assert outcomes == ["rejected", "requeued", "acknowledged"], (nip, outcomes)
        requeued = record["attempts"][1]
        assert f"RosterImported {roster.import_id}" in requeued["message"]
        assert "sebelumnya: " + parked[nip]["message"] in requeued["message"]
    assert "penilaiUnorNama" in done[unit_nip]["attempts"][1]["message"]
    assert "penilaiGolongan: '' -> 'IV/b'" in done[golongan_nip]["attempts"][1]["message"]
    assert f"penilaiNipNrp: '{KS_NIP}' -> '{KS_FIXED_NIP}'" in done[assessor_nip]["attempts"][1]["message"]

    stored = {r["pnsDinilaiId"]: r for r in simulator.records()["records"]}
    counts = simulator.records()["count_by_nip_period"]
    assert {n: counts.get(f"{n}/2026/1-6") for n in done} == {n: 1 for n in done}
    assert stored[unit_nip]["penilaiUnorNama"] == "SD Negeri 1 Cibinong"
    assert stored[golongan_nip]["penilaiGolongan"] == "IV/b"
    assert stored[assessor_nip]["penilaiNipNrp"] == KS_FIXED_NIP

    # Not fixed by a roster: still parked, no requeue written; and the resume is an event.
    await asyncio.sleep(0.5)
    still = (await sync.log(teacher_nip))["records"][0]
    assert still["status"] == "parked" and [a["outcome"] for a in still["attempts"]] == ["rejected"]
    kinds = [e["type"] for e in await sync.events(results[unit_nip].assessment_id)]
    assert kinds == ["ekinerja.sync.failed", "ekinerja.sync.requeued", "ekinerja.sync.succeeded"]
    [requeued] = [e for e in await sync.events(results[unit_nip].assessment_id) if e["type"] == "ekinerja.sync.requeued"]
    assert requeued["payload"]["requeued_by"] == f"planning RosterImported {roster.import_id}"
    assert requeued["payload"]["previous_message"] == parked[unit_nip]["message"]


async def test_a_roster_makes_an_unmappable_result_sendable_but_an_older_roster_does_not(
    sync, simulator, make_finalized, new_nip
):
    nip = new_nip()
    event = make_finalized(teacher=_guru(nip, jenjang="Ahli Pratama"))  # a typo in the roster
    await sync.publish(event)
    parked = await sync.record_with_status(nip, "parked")
    assert [a["outcome"] for a in parked["attempts"]] == ["not_sent"]

    fixed = _roster_event("SD Negeri 1 Cibinong", [_ks(), _guru(nip)])
    # A roster imported before the result was finalized is older than its data: ignored.
    await _publish_roster(sync, fixed, occurred_at=event.finalized_at.replace(year=2025))
    await asyncio.sleep(1.0)
    assert (await sync.log(nip))["records"][0]["status"] == "parked"

    await _publish_roster(sync, _roster_event("SD Negeri 1 Cibinong", [_ks(), _guru(nip)]))
    done = await sync.record_with_status(nip, "acknowledged")
    assert [a["outcome"] for a in done["attempts"]] == ["not_sent", "requeued", "acknowledged"]
    assert "koefisienId: None -> '1'" in done["attempts"][1]["message"]
    assert simulator.records()["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}


# ---------------------------------------------------------------- the district's log


async def test_district_log_pages_counts_and_access(sync, simulator, make_finalized, new_nip):
    nips = [new_nip() for _ in range(3)]
    parked = new_nip()
    simulator.faults(unknown_nips=[parked])
    for nip in [*nips, parked]:
        await sync.publish(make_finalized(nip))
    for nip in nips:
        await sync.record_with_status(nip, "acknowledged")
    await sync.record_with_status(parked, "parked")
    await sync.publish(make_finalized(new_nip()), region="030100")  # another district

    seen, before = [], None
    while True:
        params = {"limit": 3, **({"before": before} if before else {})}
        r = await sync.http.get(f"/v1/sync-log/districts/{REGION}", params=params, headers=DINAS)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [x["teacher_nip"] for x in body["records"]]
        before = body["next_before"]
        if before is None:
            break
    assert sorted(seen) == sorted([*nips, parked])  # each once, none of the other district
    assert body["counts"] == {"acknowledged": 3, "parked": 1}
    r = await sync.http.get(f"/v1/sync-log/districts/{REGION}", params={"status": "parked"}, headers=DINAS)
    [record] = r.json()["records"]
    assert record["teacher_nip"] == parked and record["responsible_actor"] == "bkd"
    assert record["attempts"][0]["message"] == "NIP tidak ditemukan di SIASN" and record["attempts"][0]["at"]
    province = await sync.http.get("/v1/sync-log/districts/020000", headers=bearer("dinas", region="020000"))
    assert province.status_code == 200 and len(province.json()["records"]) == 4

    for path, headers, code, status in [
        (f"/v1/sync-log/districts/{REGION}", bearer("kepala_sekolah", npsn=NPSN), "peran_tidak_diizinkan", 403),
        (f"/v1/sync-log/districts/{REGION}", bearer("dinas", region="030100"), "akses_log_sinkronisasi_ditolak", 403),
        ("/v1/sync-log/districts/02050", DINAS, "wilayah_tidak_valid", 400),
        (f"/v1/sync-log/districts/{REGION}?status=hilang", DINAS, "status_tidak_dikenal", 400),
        (f"/v1/sync-log/districts/{REGION}?before=kemarin", DINAS, "kursor_tidak_valid", 422),
        # A time without a timezone was a 500 on PostgreSQL.
        (f"/v1/sync-log/districts/{REGION}?before=2026-01-01T00:00:00|x", DINAS, "kursor_tidak_valid", 422),
    ]:
        r = await sync.http.get(path, headers=headers)
        assert r.status_code == status and r.json()["error"]["code"] == code, (path, r.text)
        assert r.json()["error"]["message"]
