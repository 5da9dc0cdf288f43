"""The assessment service against real NATS JetStream and real databases (SQLite, PostgreSQL):
read models built from real events on the streams, the assessor's API, AssessmentFinalized on
the stream, out-of-order and duplicate delivery, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlmodel import select

from kinerja_shared.messaging.inbox import InboxMessage
from kinerja_shared.testing.http import bearer

from assessment_harness import (
    GURU, GURU2, KS, KS_AUTH, NPSN, approved, assessment_for, eventually, outbox, period,
    publish,
    roster, uploaded,
)
from kinerja_assessment.adapters.tables import Assessment, PeriodView


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
                         json={"rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS", "reason": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "penilaian_sudah_final"
    assert [m.event_type for m in await outbox(runtime)] == ["assessment.assessment.rated", "assessment.assessment.finalized"]
    r = await client.get(f"/v1/assessments/{a['assessment_id']}", headers=KS_AUTH)
    assert r.json()["predikat"] == "BUTUH_PERBAIKAN"


async def test_events_out_of_order_and_duplicates_are_applied_once(service):
    runtime, client, js = service
    plan_id, period_id = str(uuid.uuid4()), str(uuid.uuid4())
    evidence = uploaded(plan_id, period_id)
    # The evidence and the approval arrive before the roster and the period they depend on.
    first = await publish(js, evidence)
    await publish(js, approved(plan_id, period_id))
    await asyncio.sleep(0.5)
    async with runtime.session_factory() as s:
        assert (await s.exec(select(Assessment))).all() == []
    await publish(js, roster())
    await publish(js, period(period_id))
    a = await assessment_for(client, plan_id, evidence=1)
    # The same evidence event again (another message id, same event id) and the same
    # evidence in a new event: neither counts twice.
    for _ in range(2):
        await js.publish(first.subject(), first.model_dump_json().encode(), headers={"Nats-Msg-Id": uuid.uuid4().hex})
    await publish(js, uploaded(plan_id, period_id, evidence_id=evidence.evidence_id))
    await publish(js, approved(plan_id, period_id))
    await publish(js, roster())
    # A marker behind the duplicates on each stream: once it is applied, so were they.
    await publish(js, uploaded(plan_id, period_id))
    marker_period = str(uuid.uuid4())
    await publish(js, period(marker_period))
    await assessment_for(client, plan_id, evidence=2)

    async def marker_applied():
        async with runtime.session_factory() as s:
            return await s.get(PeriodView, marker_period)

    await eventually(marker_applied)
    r = await client.get(f"/v1/assessments/{a['assessment_id']}", headers=KS_AUTH)
    assert r.json()["evidence_count"] == 2
    async with runtime.session_factory() as s:
        rows = (await s.exec(select(Assessment))).all()
        assert [(x.plan_id, x.status) for x in rows] == [(plan_id, "open")]

    # Four first events, then the same evidence in a new event, the approval and roster again and
    # the two markers; the two redeliveries of one event id add nothing. Two events about the same
    # evidence applied at once: the second insert is retried (nak), so it may land after the marker.
    async def inbox_rows():
        async with runtime.session_factory() as s:
            rows = (await s.exec(select(InboxMessage))).all()
            return rows if len(rows) >= 9 else None

    inbox = await eventually(inbox_rows)
    await asyncio.sleep(0.5)
    async with runtime.session_factory() as s:
        inbox = (await s.exec(select(InboxMessage))).all()
    assert len(inbox) == 9, sorted((i.consumer, i.event_type) for i in inbox)


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
        (client.put(f"{url}/ratings", headers=bearer("kepala_sekolah", nip="197912302005011006", npsn="20299999"), json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "r"}), 403, "bukan_penilai"),
        (client.put(f"{url}/ratings", headers=bearer("guru", nip=GURU, npsn=NPSN), json={"rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS", "reason": "r"}), 403, "peran_tidak_diizinkan"),
        (client.post(f"{url}/finalize", headers=KS_AUTH), 409, "rating_belum_lengkap"),
        (client.post(f"{url}/finalize", headers=bearer("guru", nip=GURU, npsn=NPSN)), 403, "peran_tidak_diizinkan"),
        (client.get(url, headers=bearer("guru", nip=GURU2, npsn=NPSN)), 403, "akses_ditolak"),
        (client.put("/v1/assessments/tidak-ada/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "r"}), 404, "penilaian_tidak_ditemukan"),
        # A rating without a written reason (missing, empty, only spaces, not text).
        (client.put(f"{url}/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI"}), 422, "alasan_wajib_diisi"),
        (client.put(f"{url}/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "   "}), 422, "alasan_wajib_diisi"),
        (client.put(f"{url}/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": 7}), 422, "alasan_wajib_diisi"),
        (client.put(f"{url}/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "r", "perilaku_per_nilai": {"akuntabel": {"rating": "SESUAI", "reason": "x"}}}), 422, "perilaku_per_nilai_tidak_lengkap"),
        (client.put(f"{url}/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI"}), 422, "rating_tidak_valid"),
        (client.put(f"{url}/ratings", headers=KS_AUTH, json=["SESUAI", "SESUAI"]), 422, "input_tidak_valid"),
        (client.put(f"{url}/ratings", json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI"}), 401, "token_tidak_ada"),
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
