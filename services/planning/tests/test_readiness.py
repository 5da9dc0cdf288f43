"""Readiness report through the HTTP API and the command line, against real NATS JetStream and
a real database (SQLite, then PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys

from kinerja_shared.testing.http import bearer

from planning_harness import DAPODIK_HEADER, HEADER, SampleSchool, dinas, new_nip, sistem


async def test_a_clean_school_is_ready(planning):
    school = SampleSchool(dapodik=True)
    assert (await planning.import_csv(school.csv())).status_code == 201
    response = await planning.client.get(f"/v1/readiness/schools/{school.npsn}", headers=sistem())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["ready"], body["people"], body["issues"]) == (True, 3, [])
    assert body["by_actor"] == {"operator_sekolah": 0, "operator_dinas": 0, "bkd": 0}


async def test_mismatches_are_reported_with_the_actor_who_fixes_them(planning):
    a, b = SampleSchool(dapodik=True), SampleSchool(dapodik=True)
    b.region = a.region
    no_golongan = a.guru_line(1).replace("III/a,PNS", ",PNS")
    assert (await planning.import_csv(
        "\n".join([DAPODIK_HEADER, a.pengawas_line(), a.ks_line(), a.guru_line(0), no_golongan,
                   b.pengawas_line(), b.ks_line(), b.guru_line(0)]) + "\n"
    )).status_code == 201
    # A's kepala sekolah moves to school B as a guru: A's teachers keep pointing at them and
    # A has no kepala sekolah (so no one assessed by the Tim Kinerja either).
    moved = (a.ks_line().replace(f"{a.npsn},{a.name},", f"{b.npsn},,")
             .replace("kepala_sekolah,Kepala Sekolah", "guru,Guru Kelas").replace(a.pengawas_nip, b.ks_nip))
    moved = moved.removesuffix("Kepala Sekolah") + "Guru Kelas"  # jenis PTK follows the new role
    assert (await planning.import_csv("\n".join([DAPODIK_HEADER, moved]) + "\n")).status_code == 201

    response = await planning.client.get(f"/v1/readiness/schools/{a.npsn}", headers=sistem())
    body = response.json()
    assert body["ready"] is False
    found = {(i["code"], i["nip"], i["actor"]) for i in body["issues"]}
    assert found == {
        ("kepala_sekolah_tidak_ada", None, "operator_dinas"),
        ("penilai_bukan_kepala_sekolah", a.guru_nips[0], "operator_sekolah"),
        ("penilai_bukan_kepala_sekolah", a.guru_nips[1], "operator_sekolah"),
        ("golongan_tidak_ada", a.guru_nips[1], "bkd"),
    }
    assert body["by_actor"] == {"operator_sekolah": 2, "operator_dinas": 1, "bkd": 1}
    assert all(i["message"] for i in body["issues"])

    # The district: B is ready, A is listed with its issues.
    district = await planning.client.get(f"/v1/readiness/districts/{a.region}", headers=dinas(a.region))
    assert district.status_code == 200, district.text
    d = district.json()
    assert (d["schools"], d["schools_ready"], d["people"]) == (2, 1, 5)
    assert [s["npsn"] for s in d["not_ready"]] == [a.npsn]
    assert d["by_actor"] == body["by_actor"]

    # Who may look: the school's own operator yes; another school's, a guru, another district's dinas no.
    own = await planning.client.get(f"/v1/readiness/schools/{a.npsn}", headers=bearer("operator_sekolah", npsn=a.npsn))
    assert own.status_code == 200
    for headers, code in ((bearer("operator_sekolah", npsn=b.npsn), "akses_ditolak"), (a.guru(0), "peran_tidak_diizinkan")):
        refused = await planning.client.get(f"/v1/readiness/schools/{a.npsn}", headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == code
    other = await planning.client.get(f"/v1/readiness/districts/{a.region}", headers=dinas("999999"))
    assert other.status_code == 403
    missing = await planning.client.get("/v1/readiness/schools/29999997", headers=sistem())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "sekolah_tidak_ditemukan"


async def test_cli_prints_the_district_report(planning, settings):
    school = SampleSchool()
    assert (await planning.import_csv(school.csv())).status_code == 201
    # The pengawas is re-imported as a guru of the school: the kepala sekolah loses their Tim Kinerja.
    as_guru = (f"{school.npsn},{school.name},{school.region},{school.pengawas_nip},Drs. Pengawas,guru,"
               f"Guru Kelas,Ahli Madya,IV/b,PNS,{school.ks_nip}")
    assert (await planning.import_csv("\n".join([HEADER, as_guru]) + "\n")).status_code == 201
    env = {**os.environ, "KINERJA_DATABASE_URL": settings.database_url}
    cli = [sys.executable, "-m", "kinerja_planning.entrypoints.readiness_cli"]
    out = subprocess.run([*cli, "district", school.region], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr  # not ready: a non-zero exit a script can test
    assert "tim_kinerja_tidak_ada" in out.stdout and school.ks_nip in out.stdout and "operator_dinas" in out.stdout
    missing = subprocess.run([*cli, "school", "29999997"], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "sekolah_tidak_ditemukan" in missing.stderr


async def test_nik_and_jenis_ptk_missing_or_disagreeing(planning):
    school = SampleSchool(dapodik=True, guru_nips=[new_nip(1985), new_nip(1990), new_nip(1991), new_nip(1992)])
    ks_nik = school.ks_line().split(",")[-2]
    wrong_birth = ks_nik[:6] + ("01" if ks_nik[6:8] != "01" else "02") + ks_nik[8:]  # another birth day
    lines = [
        DAPODIK_HEADER, school.pengawas_line(),
        school.ks_line().replace(ks_nik, wrong_birth),
        _with_column(school.guru_line(0), -2, ""),  # no NIK
        _with_column(school.guru_line(1), -1, "Kepala Sekolah"),  # a guru recorded as kepala sekolah
        _with_column(school.guru_line(2), -1, ""),  # no jenis PTK
        school.guru_line(3),
    ]
    assert (await planning.import_csv("\n".join(lines) + "\n")).status_code == 201
    body = (await planning.client.get(f"/v1/readiness/schools/{school.npsn}", headers=sistem())).json()
    found = {(i["code"], i["nip"], i["actor"]) for i in body["issues"]}
    assert found == {
        ("nik_nip_tidak_sesuai", school.ks_nip, "bkd"),
        ("nik_tidak_ada", school.guru_nips[0], "operator_sekolah"),
        ("jenis_ptk_tidak_sesuai", school.guru_nips[1], "operator_sekolah"),
        ("jenis_ptk_tidak_ada", school.guru_nips[2], "operator_sekolah"),
    }
    messages = {i["code"]: i["message"] for i in body["issues"]}
    assert "tanggal lahir" in messages["nik_nip_tidak_sesuai"]
    assert "Kepala Sekolah" in messages["jenis_ptk_tidak_sesuai"] and "guru" in messages["jenis_ptk_tidak_sesuai"]
    assert body["by_actor"] == {"operator_sekolah": 3, "operator_dinas": 0, "bkd": 1}

    # A roster imported without the Dapodik columns: every person lacks NIK and jenis PTK.
    old = SampleSchool()
    assert (await planning.import_csv(old.csv())).status_code == 201
    body = (await planning.client.get(f"/v1/readiness/schools/{old.npsn}", headers=sistem())).json()
    codes = sorted(i["code"] for i in body["issues"])
    assert codes == ["jenis_ptk_tidak_ada"] * 3 + ["nik_tidak_ada"] * 3
    # Re-imported with them, the school is ready; the columns' absence had not erased anything.
    old.dapodik = True
    assert (await planning.import_csv(old.csv())).status_code == 201
    body = (await planning.client.get(f"/v1/readiness/schools/{old.npsn}", headers=sistem())).json()
    assert body["ready"] is True, body


def _with_column(line: str, index: int, value: str) -> str:
    """The line with one column (counted from the end, past the quoted name) replaced."""
    head, *tail = line.rsplit(",", 6)
    tail[index] = value
    return ",".join([head, *tail])
