"""The assessor's API on real NATS JetStream and both databases: ratings changed while open,
who sees what in the list, a new assessor of record taking over, and the service started by its
console script (or python -m) with environment variables only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from kinerja_shared.events import PersonRef
from kinerja_shared.testing.http import bearer
from kinerja_shared.testing.servers import free_port

from assessment_harness import (
    GURU, GURU2, KS_AUTH, NPSN, assessment_for, eventually, open_assessments, outbox,
    publish, roster,
)

RATE_URL = "/v1/assessments/{}/ratings"


async def test_ratings_can_be_changed_while_open_and_publish_only_drafts(service):
    runtime, client, js = service
    _, [a] = await open_assessments(runtime, client, js, GURU)
    url = RATE_URL.format(a["assessment_id"])
    r = await client.put(url, headers=KS_AUTH, json={"rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "DI_ATAS",
                                                     "reason": "Praktik kinerja sangat baik"})
    assert (r.json()["predikat"], r.json()["predikat_code"], r.json()["status"]) == ("SANGAT_BAIK", 1, "open")
    r = await client.put(url, headers=KS_AUTH, json={"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "DI_BAWAH",
                                                     "reason": "  Terlambat mengumpulkan bukti dukung  "})
    body = r.json()
    assert r.status_code == 200
    assert (body["rating_hasil_kerja"], body["rating_perilaku_kerja"]) == ("SESUAI", "DI_BAWAH")
    assert (body["predikat"], body["predikat_code"], body["predikat_label"]) == ("KURANG", 4, "Kurang/Misconduct")
    assert body["rating_reason"] == "Terlambat mengumpulkan bukti dukung"
    assert body["finalized_at"] is None
    # The teacher reads the same values; nothing goes out before finalisation.
    r = await client.get(f"/v1/assessments/{a['assessment_id']}", headers=bearer("guru", nip=GURU, npsn=NPSN))
    assert r.json()["predikat"] == "KURANG"
    # Each change is a draft event (AssessmentRated); no final result goes out before finalisation.
    assert [m.event_type for m in await outbox(runtime)] == ["assessment.assessment.rated"] * 2


async def test_the_list_is_scoped_by_role_and_filtered(service):
    runtime, client, js = service
    period_id, [a1, a2] = await open_assessments(runtime, client, js, GURU, GURU2)

    async def nips(headers, **params):
        r = await client.get("/v1/assessments", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return sorted(x["teacher_nip"] for x in r.json()["assessments"])

    assert await nips(bearer("guru", nip=GURU, npsn=NPSN)) == [GURU]
    # A guru asking for someone else's assessments gets none of them.
    assert await nips(bearer("guru", nip=GURU, npsn=NPSN), teacher_nip=GURU2) == []
    assert await nips(KS_AUTH) == sorted([GURU, GURU2])
    assert await nips(bearer("kepala_sekolah", nip="197912302005011006", npsn="20299999")) == []
    # The principal's pengawas assesses the principal, not the teachers (test_access.py).
    assert await nips(bearer("pengawas", nip="196805141993031002")) == []
    assert await nips(bearer("dinas", region="020500")) == sorted([GURU, GURU2])
    assert await nips(bearer("dinas", region="030100")) == []
    assert await nips(KS_AUTH, teacher_nip=GURU2) == [GURU2]
    assert await nips(KS_AUTH, period_id=period_id, npsn=NPSN) == sorted([GURU, GURU2])
    assert await nips(KS_AUTH, period_id=str(uuid.uuid4())) == []
    assert await nips(KS_AUTH, plan_id=a1["plan_id"]) == [GURU]
    # The other school's kepala sekolah may not read one either.
    r = await client.get(f"/v1/assessments/{a2['assessment_id']}",
                         headers=bearer("kepala_sekolah", nip="197912302005011006", npsn="20299999"))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "akses_ditolak")
    r = await client.get(f"/v1/assessments/{uuid.uuid4()}", headers=KS_AUTH)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "penilaian_tidak_ditemukan")


async def test_a_new_assessor_of_record_takes_over_open_assessments(service):
    runtime, client, js = service
    _, [a] = await open_assessments(runtime, client, js, GURU)
    new_ks = "197606062000032004"
    # The roster is imported again with another kepala sekolah assessing this guru.
    await publish(js, roster(assessor_of_guru=new_ks, extra=(
        PersonRef(nip=new_ks, name="Rina Wulandari", role="kepala_sekolah", jabatan="Kepala Sekolah",
                  jenjang="Ahli Madya", golongan="IV/b", assessor_nip="196805141993031002"),
    )))

    async def taken_over():
        found = await assessment_for(client, a["plan_id"])
        return found if found["assessor_nip"] == new_ks else None

    await eventually(taken_over)
    ratings = {"rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "Sesuai target"}
    r = await client.put(RATE_URL.format(a["assessment_id"]), headers=KS_AUTH, json=ratings)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "bukan_penilai")
    new_auth = bearer("kepala_sekolah", nip=new_ks, npsn=NPSN)
    r = await client.put(RATE_URL.format(a["assessment_id"]), headers=new_auth, json=ratings)
    assert r.status_code == 200 and r.json()["predikat"] == "BAIK"
    r = await client.post(f"/v1/assessments/{a['assessment_id']}/finalize", headers=new_auth)
    assert r.status_code == 200 and r.json()["status"] == "final"
    [row] = [m for m in await outbox(runtime) if m.event_type == "assessment.assessment.finalized"]
    assert '"nip":"197606062000032004"' in row.data.replace(" ", "")


@pytest.mark.parametrize("launcher", ["console_script", "python_m"])
async def test_the_service_starts_from_environment_variables_only(launcher, nats_server, database_url, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "KINERJA_DATABASE_URL": database_url,
        "KINERJA_NATS_URL": nats_server.url,
        "KINERJA_HTTP_HOST": "127.0.0.1",
        "KINERJA_HTTP_PORT": str(port),
        "KINERJA_SERVICE_NAME": "assessment",
    }
    command = {
        "console_script": [str(Path(sys.executable).parent / "kinerja-assessment")],
        "python_m": [sys.executable, "-m", "kinerja_assessment"],
    }[launcher]
    log = open(tmp_path / "service.log", "wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        # httpx's default 5 s per request is a speed limit too under load.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            async def ready():
                if process.poll() is not None:  # it died: say so now, with its log
                    raise AssertionError(f"the service exited ({process.returncode}): "
                                         + (tmp_path / "service.log").read_text()[-2000:])
                try:
                    r = await client.get("/health/ready")
                except httpx.TransportError:
                    return None
                return r if r.status_code == 200 else None

            # The deadline is for a hang, not a speed limit: a death fails at once (above). With
            # every CPU busy (saturated.py, load ~20) the interpreter had not finished importing
            # after 30 s (an empty log), 4 runs of 4.
            r = await eventually(ready, timeout=180, what="the service ready")
            assert r.json()["checks"] == {"database": "ok"} and r.json()["details"]["nats"] == "terhubung"
            r = await client.get("/v1/assessments", headers=bearer("dinas", region="020500"))
            assert r.status_code == 200 and isinstance(r.json()["assessments"], list)
            # uvicorn's own headers: a date, no Server naming it (or its version); ours on top.
            assert "server" not in r.headers and "date" in r.headers
            assert r.headers["x-content-type-options"] == "nosniff"
            r = await client.get("/v1/assessments")
            assert (r.status_code, r.json()["error"]["code"]) == (401, "token_tidak_ada")
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    # A clean shutdown on SIGTERM (uvicorn re-raises the signal once it has shut down).
    output = (tmp_path / "service.log").read_text()
    assert process.returncode in (0, -signal.SIGTERM), output[-2000:]
    assert "service.stopped" in output and "Traceback" not in output

