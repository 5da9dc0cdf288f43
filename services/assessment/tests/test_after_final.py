"""After finalisation, through the API on real NATS JetStream and both databases: the final
version carries its angka kredit; a correction is a new version published as its own event and
as a full snapshot with the same assessment id (an update downstream); the teacher acknowledges
or objects within the window; the Dinas decides and an accepted objection is a correction; bad
input changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timezone

from kinerja_shared.testing.http import bearer

from assessment_harness import (
    GURU, GURU2, KS, KS_AUTH, NPSN, REGION, open_assessments, outbox, rate_and_finalize, snapshot,
)

GURU_AUTH = bearer("guru", nip=GURU, npsn=NPSN)
DINAS_AUTH = bearer("dinas", nip="196001011985031001", region=REGION)


async def events(js, subject: str, n: int) -> list[dict]:
    """The first n events on the subject. A fetch returns what is there already, and the relay
    publishes in the background: fetch until all n have come (or fail after 15 s)."""
    sub = await js.pull_subscribe(subject, stream="KINERJA_ASSESSMENT")
    msgs: list = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while len(msgs) < n and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):  # nats' TimeoutError is one
                msgs += await sub.fetch(n - len(msgs), timeout=1)
        for m in msgs:
            await m.ack()
    finally:
        await sub.unsubscribe()  # leave no pull subscription open for the connection's close
    assert len(msgs) == n, f"{len(msgs)} of {n} events on {subject}"
    return [json.loads(m.data) for m in msgs]


async def test_a_correction_is_a_new_version_and_an_update_of_the_same_record(service):
    runtime, client, js = service
    _, [a] = await open_assessments(runtime, client, js, GURU)
    final = await rate_and_finalize(client, a, "SESUAI", "SESUAI")
    # Ahli Muda, Baik, a semester: 6/12 x 100% x 25 = 12.5
    assert (final["version"], final["predikat"], final["angka_kredit"]) == (1, "BAIK", "12.50")
    url = f"/v1/assessments/{a['assessment_id']}"

    r = await client.post(f"{url}/corrections", headers=KS_AUTH, json={
        "corrects_version": 1, "rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS",
        "reason": "Bukti sertifikat pelatihan terlambat diverifikasi"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["version"], body["predikat"], body["angka_kredit"], body["status"]) == (2, "SANGAT_BAIK", "18.75", "final")
    assert [(v["version"], v["kind"], v["predikat"]) for v in body["versions"]] == [
        (1, "final", "BAIK"), (2, "koreksi", "SANGAT_BAIK")]

    finalized = await events(js, "kinerja.assessment.assessment.finalized.>", 2)
    assert [(e["payload"]["assessment_id"], e["payload"]["assessment_version"]) for e in finalized] == [
        (a["assessment_id"], 1), (a["assessment_id"], 2)]
    v1, v2 = (e["payload"] for e in finalized)
    assert v1["angka_kredit"] == "12.50" and v1["corrects_version"] is None
    assert (v2["predikat"], v2["predikat_code"], v2["corrects_version"]) == ("SANGAT_BAIK", 1, 1)
    assert v2["correction_reason"].startswith("Bukti sertifikat") and v2["assessor"]["nip"] == KS
    [corrected] = await events(js, "kinerja.assessment.assessment.corrected.>", 1)
    p = corrected["payload"]
    assert (p["corrects_version"], p["assessment_version"], p["previous_predikat"], p["predikat"]) == (1, 2, "BAIK", "SANGAT_BAIK")
    assert p["corrected_by_role"] == "ppk" and corrected["version"] == 1

    # Refused, and nothing changes: a correction of a version that does not exist, of an older
    # version, without a reason, that changes nothing, by someone else; editing a final one.
    before = await snapshot(runtime)
    cases = [
        ({"corrects_version": 3, "rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "x"}, KS_AUTH, 404, "versi_penilaian_tidak_ditemukan"),
        ({"corrects_version": 1, "rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "x"}, KS_AUTH, 409, "versi_sudah_dikoreksi"),
        ({"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "x"}, KS_AUTH, 422, "versi_wajib_diisi"),
        ({"corrects_version": 2, "rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": " "}, KS_AUTH, 422, "alasan_wajib_diisi"),
        ({"corrects_version": 2, "rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS", "reason": "x"}, KS_AUTH, 422, "koreksi_tanpa_perubahan"),
        ({"corrects_version": 2, "rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "x"}, GURU_AUTH, 403, "peran_tidak_diizinkan"),
        ({"corrects_version": 2, "rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "x"},
         bearer("dinas", region="030100"), 403, "akses_ditolak"),
    ]
    for payload, auth, status, code in cases:
        r = await client.post(f"{url}/corrections", headers=auth, json=payload)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
        assert r.json()["error"]["message"]
    r = await client.put(f"{url}/ratings", headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "x"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "penilaian_sudah_final")
    assert await snapshot(runtime) == before

    # The Dinas may correct too (its region); version 3.
    r = await client.post(f"{url}/corrections", headers=DINAS_AUTH, json={
        "corrects_version": 2, "rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "SESUAI", "reason": "Verifikasi Dinas"})
    assert r.status_code == 200 and r.json()["version"] == 3 and r.json()["predikat"] == "BAIK"


async def test_acknowledge_object_and_the_dinas_decides(service):
    runtime, client, js = service
    _, [a, b] = await open_assessments(runtime, client, js, GURU, GURU2)
    await rate_and_finalize(client, a, "SESUAI", "DI_BAWAH")  # Kurang
    await rate_and_finalize(client, b, "SESUAI", "SESUAI")
    url_a, url_b = f"/v1/assessments/{a['assessment_id']}", f"/v1/assessments/{b['assessment_id']}"
    guru2 = bearer("guru", nip=GURU2, npsn=NPSN)

    # GURU2 acknowledges; once only.
    r = await client.post(f"{url_b}/acknowledge", headers=guru2)
    assert r.status_code == 200 and r.json()["response"] == "diterima_guru"
    before = await snapshot(runtime)
    for call, status, code in [
        (client.post(f"{url_b}/acknowledge", headers=guru2), 409, "sudah_ditanggapi"),
        (client.post(f"{url_b}/objections", headers=guru2, json={"reason": "x"}), 409, "sudah_ditanggapi"),
        (client.post(f"{url_a}/objections", headers=guru2, json={"reason": "x"}), 403, "bukan_pemilik_penilaian"),
        (client.post(f"{url_a}/objections", headers=GURU_AUTH, json={"reason": "  "}), 422, "alasan_wajib_diisi"),
    ]:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert await snapshot(runtime) == before

    # GURU objects in time; a second objection waits for the decision.
    r = await client.post(f"{url_a}/objections", headers=GURU_AUTH, json={"reason": "Perilaku kerja dinilai tanpa bukti"})
    assert r.status_code == 201, r.text
    objection = r.json()
    assert objection["status"] == "diajukan" and objection["version"] == 1
    r = await client.post(f"/v1/objections/{objection['objection_id']}/decision", headers=KS_AUTH,
                          json={"decision": "DITOLAK", "reason": "x"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "peran_tidak_diizinkan")
    # Accepted: a correction by the Dinas, version 2, linked to the objection.
    r = await client.post(f"/v1/objections/{objection['objection_id']}/decision", headers=DINAS_AUTH, json={
        "decision": "DITERIMA", "reason": "Bukti perilaku kerja mendukung Sesuai Ekspektasi",
        "rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["correction_version"]) == ("diterima", 2)
    r = await client.get(url_a, headers=GURU_AUTH)
    body = r.json()
    assert (body["version"], body["predikat"], body["response"]) == (2, "BAIK", None)
    assert body["versions"][1]["objection_id"] == objection["objection_id"]
    assert body["versions"][1]["created_by_role"] == "dinas"
    r = await client.post(f"/v1/objections/{objection['objection_id']}/decision", headers=DINAS_AUTH,
                          json={"decision": "DITOLAK", "reason": "x"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "keberatan_sudah_diputuskan")
    types = [m.event_type for m in await outbox(runtime)]
    for t in ("assessment.assessment.acknowledged", "assessment.objection.filed", "assessment.objection.decided",
              "assessment.assessment.corrected"):
        assert t in types, types
    assert types.count("assessment.assessment.finalized") == 3

    # The corrected version opens its own window; after it closes an objection is refused.
    runtime.clock.set(datetime(2026, 7, 30, 3, 0, tzinfo=timezone.utc))
    before = await snapshot(runtime)
    r = await client.post(f"{url_a}/objections", headers=GURU_AUTH, json={"reason": "Masih keberatan"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "batas_keberatan_terlewat"), r.text
    assert "WIB" in r.json()["error"]["message"]
    assert await snapshot(runtime) == before
