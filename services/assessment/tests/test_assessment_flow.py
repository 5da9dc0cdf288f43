"""The assessment service against real NATS JetStream and real databases (SQLite, PostgreSQL):
read models built from real events on the streams, the assessor's API, AssessmentFinalized on
the stream, out-of-order and duplicate delivery, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timezone

import nats
import pytest
from nats.js.errors import NotFoundError
from sqlmodel import select

from kinerja_shared.events import (
    EvidenceUploaded,
    PeriodOpened,
    PersonRef,
    PlanApproved,
    RosterImported,
    SchoolRef,
    make_envelope,
)
from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.testing.http import bearer, running_app

from kinerja_assessment.adapters.tables import Assessment
from kinerja_assessment.bootstrap import build
from kinerja_assessment.settings import Settings

NPSN, REGION = "20212345", "020500"
KS, GURU, GURU2 = "197204151998022001", "198503122010012001", "198711052011011002"
KS_AUTH = bearer("kepala_sekolah", nip=KS, npsn=NPSN)


def roster() -> RosterImported:
    return RosterImported(
        import_id=str(uuid.uuid4()),
        school=SchoolRef(npsn=NPSN, name="SD Negeri 1 Cibinong", region=REGION),
        people=[
            PersonRef(nip=KS, name="Siti Rahmawati", role="kepala_sekolah", jabatan="Kepala Sekolah",
                      jenjang="Ahli Madya", golongan="IV/a", assessor_nip="196805141993031002"),
            PersonRef(nip=GURU, name="Dewi Lestari", role="guru", jabatan="Guru Kelas",
                      jenjang="Ahli Muda", golongan="III/c", assessor_nip=KS),
            PersonRef(nip=GURU2, name="Agus Salim", role="guru", jabatan="Guru Kelas",
                      jenjang="Ahli Pertama", golongan="III/b", assessor_nip=KS),
        ],
    )


def period(period_id: str) -> PeriodOpened:
    return PeriodOpened(period_id=period_id, policy="pmm-2024", year=2026, semester=1, name="Semester 1 2026",
                        starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6)


def approved(plan_id: str, period_id: str, nip: str = GURU) -> PlanApproved:
    return PlanApproved(plan_id=plan_id, period_id=period_id, teacher_nip=nip, school_npsn=NPSN,
                        assessor_nip=KS, indicators=["A.1"], revision=1, approved_by=KS,
                        approved_at=datetime.now(timezone.utc))


def uploaded(plan_id: str, period_id: str, evidence_id: str | None = None) -> EvidenceUploaded:
    return EvidenceUploaded(evidence_id=evidence_id or str(uuid.uuid4()), plan_id=plan_id, period_id=period_id,
                            teacher_nip=GURU, school_npsn=NPSN, sha256="a" * 64, size_bytes=10,
                            content_type="application/pdf", file_name="x.pdf",
                            uploaded_at=datetime.now(timezone.utc))


@pytest.fixture
async def service(nats_server, database_url):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    # A clean slate: this test's events only, consumers starting from the beginning.
    for stream, durable in (("KINERJA_PLANNING", "assessment-planning"), ("KINERJA_EVIDENCE", "assessment-evidence")):
        try:
            await js.delete_consumer(stream, durable)
        except NotFoundError:
            pass
        try:
            await js.purge_stream(stream)
        except NotFoundError:
            pass
    settings = Settings(database_url=database_url, nats_url=nats_server.url,
                        consumer_backoff_base_s=0.1, consumer_backoff_max_s=0.5, consumer_max_deliveries=50)
    runtime, app = build(settings)
    async with running_app(app) as client:
        await js.purge_stream("KINERJA_ASSESSMENT")
        yield runtime, client, js
    await nc.close()


async def publish(js, contract, msg_id: str | None = None):
    envelope = make_envelope(contract, producer="test", region=REGION, correlation_id="test-corr")
    await js.publish(envelope.subject(), envelope.model_dump_json().encode(),
                     headers={"Nats-Msg-Id": msg_id or envelope.event_id})
    return envelope


async def eventually(fetch, timeout: float = 15.0):
    for _ in range(int(timeout / 0.1)):
        value = await fetch()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def assessment_for(client, plan_id, evidence: int = 0):
    async def fetch():
        r = await client.get("/v1/assessments", params={"plan_id": plan_id}, headers=KS_AUTH)
        found = r.json()["assessments"]
        return found[0] if found and found[0]["evidence_count"] >= evidence else None
    return await eventually(fetch)


async def outbox(runtime):
    async with runtime.session_factory() as s:
        return (await s.exec(select(OutboxMessage))).all()


async def test_rate_and_finalize_publishes_the_full_snapshot(service):
    runtime, client, js = service
    plan_id, period_id = str(uuid.uuid4()), str(uuid.uuid4())
    for event in (roster(), period(period_id), approved(plan_id, period_id)):
        await publish(js, event)
    await publish(js, uploaded(plan_id, period_id))
    a = await assessment_for(client, plan_id, evidence=1)
    assert a["status"] == "open" and a["teacher_name"] == "Dewi Lestari" and a["predikat"] is None

    r = await client.put(f"/v1/assessments/{a['assessment_id']}/ratings", headers=KS_AUTH,
                         json={"rating_hasil_kerja": "DI_BAWAH", "rating_perilaku_kerja": "SESUAI", "reason": "r"})
    assert r.status_code == 200
    assert (r.json()["predikat"], r.json()["predikat_code"], r.json()["predikat_label"]) == ("BUTUH_PERBAIKAN", 3, "Butuh Perbaikan")
    sub = await js.pull_subscribe("kinerja.assessment.assessment.finalized.>", stream="KINERJA_ASSESSMENT")
    r = await client.post(f"/v1/assessments/{a['assessment_id']}/finalize", headers=KS_AUTH)
    assert r.status_code == 200 and r.json()["status"] == "final"

    [msg] = await sub.fetch(1, timeout=10)
    env = json.loads(msg.data)
    assert msg.subject == "kinerja.assessment.assessment.finalized.020000.020500"
    p = env["payload"]
    assert p["assessment_id"] == a["assessment_id"] and p["assessment_version"] == 1
    assert (p["year"], p["month_start"], p["month_end"]) == (2026, 1, 6)
    assert p["teacher"]["nip"] == GURU and p["teacher"]["jenjang"] == "Ahli Muda"
    assert p["assessor"]["nip"] == KS and p["assessor"]["golongan"] == "IV/a"
    assert p["assessor_unit"] == "SD Negeri 1 Cibinong"
    assert (p["predikat"], p["predikat_code"]) == ("BUTUH_PERBAIKAN", 3)

    # Finalizing twice, or changing the ratings afterwards: refused, and nothing new published.
    r = await client.post(f"/v1/assessments/{a['assessment_id']}/finalize", headers=KS_AUTH)
    assert r.status_code == 409 and r.json()["error"]["code"] == "penilaian_sudah_final"
    r = await client.put(f"/v1/assessments/{a['assessment_id']}/ratings", headers=KS_AUTH,
                         json={"rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "penilaian_sudah_final"
    assert len(await outbox(runtime)) == 1
    r = await client.get(f"/v1/assessments/{a['assessment_id']}", headers=KS_AUTH)
    assert r.json()["predikat"] == "BUTUH_PERBAIKAN"


async def test_events_out_of_order_and_duplicates_are_applied_once(service):
    runtime, client, js = service
    plan_id, period_id = str(uuid.uuid4()), str(uuid.uuid4())
    evidence = uploaded(plan_id, period_id)
    # The evidence and the approval arrive before the roster and the period they depend on.
    await publish(js, evidence)
    await publish(js, approved(plan_id, period_id))
    await asyncio.sleep(0.5)
    async with runtime.session_factory() as s:
        assert (await s.exec(select(Assessment))).all() == []
    await publish(js, roster())
    await publish(js, period(period_id))
    a = await assessment_for(client, plan_id, evidence=1)
    # The same evidence event again (another message id, same event id) and the same
    # evidence in a new event: neither counts twice.
    env = make_envelope(evidence, producer="test", region=REGION, correlation_id="c")
    await js.publish(env.subject(), env.model_dump_json().encode(), headers={"Nats-Msg-Id": uuid.uuid4().hex})
    await js.publish(env.subject(), env.model_dump_json().encode(), headers={"Nats-Msg-Id": uuid.uuid4().hex})
    await publish(js, approved(plan_id, period_id))
    await asyncio.sleep(1.0)
    r = await client.get(f"/v1/assessments/{a['assessment_id']}", headers=KS_AUTH)
    assert r.json()["evidence_count"] == 1
    async with runtime.session_factory() as s:
        assert len((await s.exec(select(Assessment))).all()) == 1


async def test_bad_input_is_refused_and_changes_nothing(service):
    runtime, client, js = service
    plan_id, plan2, period_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    for event in (roster(), period(period_id), approved(plan_id, period_id), approved(plan2, period_id, GURU2)):
        await publish(js, event)
    a = await assessment_for(client, plan_id)
    await assessment_for(client, plan2)
    url = f"/v1/assessments/{a['assessment_id']}"

    async def row():
        async with runtime.session_factory() as s:
            return (await s.get(Assessment, a["assessment_id"])).model_dump()

    before = await row()
    cases = [
        (client.put(f"{url}/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "LUAR_BIASA", "rating_perilaku_kerja": "SESUAI"}), 422, "rating_tidak_valid"),
        (client.put(f"{url}/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": 2}), 422, "rating_tidak_valid"),
        (client.put(f"{url}/ratings", headers=bearer("kepala_sekolah", nip="197912302005011006", npsn="20299999"), json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI"}), 403, "bukan_penilai"),
        (client.put(f"{url}/ratings", headers=bearer("guru", nip=GURU, npsn=NPSN), json={"rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS"}), 403, "bukan_penilai"),
        (client.post(f"{url}/finalize", headers=KS_AUTH), 409, "rating_belum_lengkap"),
        (client.post(f"{url}/finalize", headers=bearer("guru", nip=GURU, npsn=NPSN)), 403, "bukan_penilai"),
        (client.get(url, headers=bearer("guru", nip=GURU2, npsn=NPSN)), 403, "akses_ditolak"),
        (client.put("/v1/assessments/tidak-ada/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI"}), 404, "penilaian_tidak_ditemukan"),
        (client.put(f"{url}/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI"}), 422, "input_tidak_valid"),
    ]
    for call, status, code in cases:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
        assert r.json()["error"]["message"]
    assert await row() == before
    assert await outbox(runtime) == []
    # A guru sees only their own assessments in the list.
    r = await client.get("/v1/assessments", headers=bearer("guru", nip=GURU2, npsn=NPSN))
    assert [x["teacher_nip"] for x in r.json()["assessments"]] == [GURU2]
    r = await client.get(url, headers=bearer("guru", nip=GURU, npsn=NPSN))
    assert r.status_code == 200
