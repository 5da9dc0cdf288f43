"""End to end: the four services and the e-Kinerja simulator as processes. Two teachers plan;
in June the principal records a full Observasi Praktik Kinerja (A..E, scores, judgement) for one
of them, rates both (one per BerAKHLAK value) and finalizes; then a correction by the principal
and an objection accepted by the Dinas each reach e-Kinerja as an update of the same record: the
simulator still holds one record per NIP and period, no duplicates."""

from __future__ import annotations

from datetime import date, datetime

import httpx
import pytest

from demo import (
    DINAS, EXPECTATIONS, INDICATORS, NPSN, WIB, auth, check, eventually, import_roster, open_period,
    plan_steps, principal, set_priorities, teachers,
)
from stack import Ports, Stack

pytestmark = pytest.mark.e2e

PER_VALUE = {k: {"rating": "DI_ATAS", "reason": f"Konsisten: {v}"} for k, v in EXPECTATIONS.items()}


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path, Ports.free())
    s.start()
    yield s
    s.stop()


def test_observation_then_corrections_reach_ekinerja_as_updates(stack):
    planning, assessment, sync = stack.url("planning"), stack.url("assessment"), stack.url("ekinerja-sync")
    ks_auth = auth("kepala_sekolah", nip=principal()["nip"], npsn=NPSN)
    year = date.today().year
    first, second = teachers()[:2]
    with httpx.Client(timeout=30) as client:
        stack.set_clock(datetime(year, 1, 10, 10, 0, tzinfo=WIB))
        import_roster(client, planning)
        period = open_period(client, planning, year)
        set_priorities(client, planning, period["period_id"], ks_auth)
        rubric = check(client.get(f"{planning}/v1/policies", headers=ks_auth), 200)
        plans = {}
        for teacher, indicators in zip((first, second), INDICATORS):
            guru = auth("guru", nip=teacher["nip"], npsn=NPSN)
            draft = check(client.post(f"{planning}/v1/plans", json={
                "period_id": period["period_id"], **plan_steps(rubric, indicators, year, teacher["name"])},
                headers=guru), 201)
            plans[teacher["nip"]] = check(client.post(f"{planning}/v1/plans/{draft['plan_id']}/submit", headers=guru), 200)
            check(client.post(f"{planning}/v1/plans/{draft['plan_id']}/approve",
                              json={"perilaku_kerja": EXPECTATIONS}, headers=ks_auth), 200)

        stack.set_clock(datetime(year, 6, 8, 10, 0, tzinfo=WIB))

        def assessments_ready():
            found = check(client.get(f"{assessment}/v1/assessments", params={"period_id": period["period_id"]},
                                     headers=ks_auth), 200)["assessments"]
            return {a["teacher_nip"]: a for a in found} if len(found) >= 2 else None

        by_nip = eventually(assessments_ready, "assessments opened from the approved plans")
        a1, a2 = by_nip[first["nip"]], by_nip[second["nip"]]
        url1, url2 = f"{assessment}/v1/assessments/{a1['assessment_id']}", f"{assessment}/v1/assessments/{a2['assessment_id']}"

        # The observation, stage by stage; a stage out of order is refused.
        refused = client.post(f"{url1}/observation/stages", headers=ks_auth,
                              json={"stage": "B", "held_on": f"{year}-03-09", "participants": ["x"]})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "tahap_observasi_tidak_berurutan"
        for stage, day in zip("ABCDE", ("03-02", "03-09", "03-10", "04-14", "05-12")):
            check(client.post(f"{url1}/observation/stages", headers=ks_auth, json={
                "stage": stage, "held_on": f"{year}-{day}", "participants": [principal()["name"], first["name"]],
                "notes": f"Tahap {stage}"}), 201)
        observation = check(client.get(f"{url1}/observation", headers=ks_auth), 200)
        focus = observation["focus_behaviours"] or list(
            check(client.get(f"{assessment}/v1/observation-rubric", headers=ks_auth), 200)["behaviours"])[:1]
        check(client.put(f"{url1}/observation/scores", headers=ks_auth, json={"scores": [
            {"behaviour": focus[0], "level": "EFEKTIF", "evidence_notes": "Terlihat di kelas", "follow_up": "Bagikan di kombel"}]}), 200)
        done = check(client.put(f"{url1}/observation/judgement", headers=ks_auth, json={
            "upaya_refleksi": "TERLIHAT_KONSISTEN", "upaya_mempelajari": "TERLIHAT_KONSISTEN",
            "perubahan_praktik": "MULAI_TERLIHAT", "note": "Perubahan praktik mulai konsisten"}), 200)
        assert done["complete"] is True

        check(client.put(f"{url1}/ratings", headers=ks_auth, json={
            "rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "DI_ATAS", "reason": "Hasil observasi",
            "perilaku_per_nilai": PER_VALUE}), 200)
        check(client.put(f"{url2}/ratings", headers=ks_auth, json={
            "rating_hasil_kerja": "DI_BAWAH", "rating_perilaku_kerja": "SESUAI", "reason": "Target belum tercapai"}), 200)
        for url in (url1, url2):
            final = check(client.post(f"{url}/finalize", headers=ks_auth), 200)
            assert final["version"] == 1 and "distribution" in final

        def synced(nip: str, version: int):
            def check_log():
                log = check(client.get(f"{sync}/v1/sync-log/schools/{NPSN}", params={"kind": "hasil"},
                                       headers=DINAS()), 200)
                return any(r["teacher_nip"] == nip and r["assessment_version"] == version
                           and r["status"] == "acknowledged" for r in log["records"])
            eventually(check_log, f"e-Kinerja acknowledging version {version} of {nip}")

        synced(first["nip"], 1)
        synced(second["nip"], 1)

        # A correction by the principal: version 2 of the first teacher's assessment.
        corrected = check(client.post(f"{url1}/corrections", headers=ks_auth, json={
            "corrects_version": 1, "rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS",
            "reason": "Bukti hasil kerja yang terlambat diverifikasi"}), 200)
        assert (corrected["version"], corrected["predikat"]) == (2, "SANGAT_BAIK")
        # The second teacher objects; the Dinas accepts with new ratings: version 2 too.
        guru2 = auth("guru", nip=second["nip"], npsn=NPSN)
        objection = check(client.post(f"{url2}/objections", headers=guru2,
                                      json={"reason": "Target tercapai, bukti sudah diunggah"}), 201)
        decided = check(client.post(f"{assessment}/v1/objections/{objection['objection_id']}/decision",
                                    headers=DINAS(), json={"decision": "DITERIMA", "reason": "Bukti mendukung",
                                                           "rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI"}), 200)
        assert decided["correction_version"] == 2
        synced(first["nip"], 2)
        synced(second["nip"], 2)

    # One record per NIP and period in e-Kinerja, updated in place with the corrected codes.
    records = httpx.get(f"{stack.simulator_url}/simulator/records", timeout=10).json()
    assert records["count"] == 2 and records["duplicates"] == {}
    assert all(n == 1 for n in records["count_by_nip_period"].values())
    by_nip = {r["pnsDinilaiId"]: r for r in records["records"]}
    assert (by_nip[first["nip"]]["kuadranKinerjaNilai"], by_nip[first["nip"]]["hasilKinerjaNilai"]) == (1, 1)
    assert (by_nip[second["nip"]]["kuadranKinerjaNilai"], by_nip[second["nip"]]["hasilKinerjaNilai"]) == (2, 2)
    assert all(r["updatedAt"] > r["createdAt"] for r in records["records"])
    assert records["calls"]["save"] >= 4  # two saves, then two updates
