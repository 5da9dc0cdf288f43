"""Observasi Praktik Kinerja, the finalisation window and principals assessed by their
pengawas, through the API on real NATS JetStream and both databases; every refusal changes no
row and writes no outbox event."""

from __future__ import annotations

from datetime import datetime, timezone

from kinerja_shared.events import PersonRef
from kinerja_shared.testing.http import bearer

from assessment_harness import (
    GURU, GURU2, KS, KS_AUTH, NPSN, REGION, approved, assessment_for, open_assessments, outbox, publish,
    rate_and_finalize, ratings, roster, snapshot, uploaded,
)

PENGAWAS = "196805141993031002"
PENGAWAS_AUTH = bearer("pengawas", nip=PENGAWAS, region=REGION)
DINAS_AUTH = bearer("dinas", nip="196001011985031001", region=REGION)


def stage(s: str, day: str, notes: str = "catatan") -> dict:
    return {"stage": s, "held_on": day, "participants": ["Siti Rahmawati", "Dewi Lestari"], "notes": notes}


SCORES = {"scores": [
    {"behaviour": "Manajemen kelas", "level": "EFEKTIF", "evidence_notes": "Aturan kelas jelas", "follow_up": "Pertahankan"},
    {"behaviour": "Disiplin positif", "level": "BELUM_EFEKTIF", "evidence_notes": "Teguran keras", "follow_up": "Konsekuensi logis"},
]}
JUDGEMENT = {"upaya_refleksi": "TERLIHAT_KONSISTEN", "upaya_mempelajari": "MULAI_TERLIHAT",
             "perubahan_praktik": "MULAI_TERLIHAT", "note": "Refleksi rutin setelah observasi"}


async def test_observation_five_stages_in_order_then_finalize(service):
    runtime, client, js = service
    _, [a] = await open_assessments(runtime, client, js, GURU)
    url = f"/v1/assessments/{a['assessment_id']}"
    r = await client.post(f"{url}/observation/stages", headers=KS_AUTH, json=stage("A", "2026-03-02"))
    assert r.status_code == 201, r.text
    assert r.json()["next_stage"] == "B" and r.json()["focus_behaviours"] == ["Disiplin positif", "Manajemen kelas"]

    # Refused, nothing changed: a stage out of order, scores before B, a date before the previous
    # stage, finalising with the observation begun but incomplete (pmm-2024: "if_started").
    await client.put(f"{url}/ratings", headers=KS_AUTH, json=ratings())
    before = await snapshot(runtime)
    for call, status, code in [
        (client.post(f"{url}/observation/stages", headers=KS_AUTH, json=stage("C", "2026-03-10")), 409, "tahap_observasi_tidak_berurutan"),
        (client.post(f"{url}/observation/stages", headers=KS_AUTH, json=stage("A", "2026-03-03")), 409, "tahap_sudah_dicatat"),
        (client.post(f"{url}/observation/stages", headers=KS_AUTH, json=stage("B", "2026-03-01")), 422, "tanggal_tahap_tidak_valid"),
        (client.post(f"{url}/observation/stages", headers=KS_AUTH, json={**stage("B", "2026-03-09"), "participants": []}), 422, "peserta_wajib_diisi"),
        (client.put(f"{url}/observation/scores", headers=KS_AUTH, json=SCORES), 409, "tahap_observasi_belum_sampai"),
        (client.post(f"{url}/observation/stages", headers=bearer("guru", nip=GURU, npsn=NPSN), json=stage("B", "2026-03-09")), 403, "peran_tidak_diizinkan"),
        (client.post(f"{url}/observation/stages", headers=bearer("kepala_sekolah", nip=GURU2, npsn=NPSN), json=stage("B", "2026-03-09")), 403, "bukan_penilai"),
        (client.post(f"{url}/finalize", headers=KS_AUTH), 409, "observasi_belum_lengkap"),
    ]:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
        assert r.json()["error"]["message"]
    assert await snapshot(runtime) == before

    for s, day in (("B", "2026-03-09"), ("C", "2026-03-09"), ("D", "2026-04-06")):
        r = await client.post(f"{url}/observation/stages", headers=KS_AUTH, json=stage(s, day))
        assert r.status_code == 201, r.text
    r = await client.put(f"{url}/observation/scores", headers=KS_AUTH, json=SCORES)
    assert r.status_code == 200 and r.json()["scores"][1]["level_label"] == "Dilakukan tapi belum efektif"
    r = await client.put(f"{url}/observation/judgement", headers=KS_AUTH, json=JUDGEMENT)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "tahap_observasi_belum_sampai")
    r = await client.post(f"{url}/observation/stages", headers=KS_AUTH, json=stage("E", "2026-05-04"))
    r = await client.post(f"{url}/finalize", headers=KS_AUTH)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "observasi_belum_lengkap")
    assert r.json()["error"]["details"]["judgement_missing"] is True
    r = await client.put(f"{url}/observation/judgement", headers=KS_AUTH, json=JUDGEMENT)
    assert r.status_code == 200 and r.json()["complete"] is True
    r = await client.post(f"{url}/finalize", headers=KS_AUTH)
    assert r.status_code == 200, r.text
    # The teacher reads the observation; the assessed person cannot add to it once final.
    r = await client.get(f"{url}/observation", headers=bearer("guru", nip=GURU, npsn=NPSN))
    assert [s["stage"] for s in r.json()["stages"]] == list("ABCDE") and r.json()["judgement"]["note"]
    types = [m.event_type for m in await outbox(runtime)]
    assert types.count("assessment.observation.stage_recorded") == 5
    assert types.count("assessment.observation.scored") == 1 and types.count("assessment.observation.judged") == 1
    r = await client.get("/v1/observation-rubric", headers=KS_AUTH)
    assert list(r.json()["stages"]) == list("ABCDE") and "EFEKTIF" in r.json()["levels"]


async def test_finalisation_window_and_the_dinas_extension(service):
    runtime, client, js = service
    period_id, [a, b] = await open_assessments(runtime, client, js, GURU, GURU2)
    url = f"/v1/assessments/{a['assessment_id']}"
    await client.put(f"{url}/ratings", headers=KS_AUTH, json=ratings())

    # Before the penilaian stage (31 May 23:59 WIB) and after it (1 July 00:00 WIB): refused.
    for at, code in ((datetime(2026, 5, 31, 16, 59, tzinfo=timezone.utc), "penilaian_belum_dibuka"),
                     (datetime(2026, 6, 30, 17, 0, tzinfo=timezone.utc), "batas_penilaian_terlewat")):
        runtime.clock.set(at)
        before = await snapshot(runtime)
        r = await client.post(f"{url}/finalize", headers=KS_AUTH)
        assert (r.status_code, r.json()["error"]["code"]) == (409, code), r.text
        assert await snapshot(runtime) == before
    assert "30 Juni 2026 pukul 23.59.59 WIB" in r.json()["error"]["message"]

    # Extensions: only the Dinas, after the stage and not in the past; for one school.
    before = await snapshot(runtime)
    for auth, body, status, code in [
        (KS_AUTH, {"until": "2026-07-10", "reason": "banjir"}, 403, "peran_tidak_diizinkan"),
        (DINAS_AUTH, {"until": "2026-06-20", "reason": "banjir"}, 422, "perpanjangan_tidak_valid"),
        (DINAS_AUTH, {"until": "2026-07-10"}, 422, "alasan_wajib_diisi"),
        (DINAS_AUTH, {"until": "besok", "reason": "x"}, 422, "perpanjangan_tidak_valid"),
    ]:
        r = await client.post(f"/v1/periods/{period_id}/extensions", headers=auth, json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert await snapshot(runtime) == before
    r = await client.post(f"/v1/periods/{period_id}/extensions", headers=DINAS_AUTH,
                          json={"until": "2026-07-10", "reason": "Banjir di wilayah sekolah", "npsn": NPSN})
    assert r.status_code == 201, r.text
    r = await client.post(f"{url}/finalize", headers=KS_AUTH)
    assert r.status_code == 200, r.text
    # The workbench shows the deadline with the extension.
    r = await client.get(f"/v1/assessments/{b['assessment_id']}/workbench", headers=KS_AUTH)
    assert r.json()["deadline"]["extended_until"] == "2026-07-10" and r.json()["deadline"]["open_now"] is True
    runtime.clock.set(datetime(2026, 7, 10, 17, 0, tzinfo=timezone.utc))  # 11 July WIB
    await client.put(f"/v1/assessments/{b['assessment_id']}/ratings", headers=KS_AUTH, json=ratings())
    r = await client.post(f"/v1/assessments/{b['assessment_id']}/finalize", headers=KS_AUTH)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "batas_penilaian_terlewat")
    types = [m.event_type for m in await outbox(runtime)]
    assert types.count("assessment.period.deadline_extended") == 1


async def test_a_principal_is_assessed_by_their_pengawas(service):
    runtime, client, js = service
    _, [a] = await open_assessments(runtime, client, js, GURU)  # roster and period in place
    pengawas = PersonRef(nip=PENGAWAS, name="Bambang Supriadi", role="pengawas", jabatan="Pengawas Sekolah",
                         jenjang="Ahli Madya", golongan="IV/b")
    await publish(js, roster(extra=(pengawas,)))
    ks_plan = "ks-plan-" + a["plan_id"]
    await publish(js, approved(ks_plan, a["period_id"], nip=KS, assessor=PENGAWAS, plan_kind="kepala_sekolah"))
    ks_assessment = await assessment_for(client, ks_plan)
    assert ks_assessment["plan_kind"] == "kepala_sekolah" and ks_assessment["assessor_nip"] == PENGAWAS
    url = f"/v1/assessments/{ks_assessment['assessment_id']}"

    # The principal cannot observe, rate or finalize their own plan.
    before = await snapshot(runtime)
    for call, status, code in [
        (client.post(f"{url}/observation/stages", headers=KS_AUTH, json=stage("A", "2026-03-02")), 403, "observasi_diri_sendiri"),
        (client.put(f"{url}/ratings", headers=KS_AUTH, json=ratings("DI_ATAS", "DI_ATAS")), 403, "bukan_penilai"),
        (client.post(f"{url}/finalize", headers=KS_AUTH), 403, "bukan_penilai"),
    ]:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert await snapshot(runtime) == before

    r = await client.post(f"{url}/observation/stages", headers=PENGAWAS_AUTH,
                          json={**stage("A", "2026-03-02"), "participants": ["Bambang Supriadi", "Siti Rahmawati"]})
    assert r.status_code == 201, r.text
    for s in "BCDE":
        r = await client.post(f"{url}/observation/stages", headers=PENGAWAS_AUTH, json=stage(s, "2026-04-01"))
        assert r.status_code == 201, r.text
    r = await client.put(f"{url}/observation/judgement", headers=PENGAWAS_AUTH, json=JUDGEMENT)
    assert r.status_code == 200
    final = await rate_and_finalize(client, ks_assessment, "DI_ATAS", "DI_ATAS", auth=PENGAWAS_AUTH)
    # Ahli Madya, Sangat Baik, a semester: 6/12 x 150% x 37.5 = 28.125 -> 28.13 (half up)
    assert (final["predikat"], final["angka_kredit"], final["assessor_nip"]) == ("SANGAT_BAIK", "28.13", PENGAWAS)
    # The principal sees their own result and acknowledges it.
    r = await client.get(url, headers=KS_AUTH)
    assert r.status_code == 200 and r.json()["predikat"] == "SANGAT_BAIK"
    r = await client.post(f"{url}/acknowledge", headers=KS_AUTH)
    assert r.status_code == 200 and r.json()["response"] == "diterima_guru"
    row = next(m for m in await outbox(runtime) if m.event_type == "assessment.assessment.finalized")
    assert f'"nip":"{PENGAWAS}"' in row.data.replace(" ", "") and f'"nip":"{KS}"' in row.data.replace(" ", "")


async def test_stage_a_attaches_the_lesson_plan_from_the_evidence_service(service):
    runtime, client, js = service
    period_id, [a] = await open_assessments(runtime, client, js, GURU)
    modul = uploaded(a["plan_id"], period_id)
    await publish(js, modul)
    await assessment_for(client, a["plan_id"], evidence=1)
    url = f"/v1/assessments/{a['assessment_id']}/observation/stages"
    before = await snapshot(runtime)
    for evidence_id in ("tidak-ada", 42):
        r = await client.post(url, headers=KS_AUTH, json={**stage("A", "2026-03-02"), "lesson_plan_evidence_id": evidence_id})
        assert (r.status_code, r.json()["error"]["code"]) == (422, "modul_ajar_tidak_valid"), r.text
    assert await snapshot(runtime) == before
    r = await client.post(url, headers=KS_AUTH, json={**stage("A", "2026-03-02"), "lesson_plan_evidence_id": modul.evidence_id})
    assert r.status_code == 201 and r.json()["stages"][0]["lesson_plan_evidence_id"] == modul.evidence_id
    r = await client.post(url, headers=KS_AUTH, json={**stage("B", "2026-03-09"), "lesson_plan_evidence_id": modul.evidence_id})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "modul_ajar_tidak_valid")
    row = next(m for m in await outbox(runtime) if m.event_type == "assessment.observation.stage_recorded")
    assert modul.evidence_id in row.data
