"""Roster import through the HTTP API and the CLI, against real NATS JetStream and a real
database (SQLite, then PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from kinerja_shared.errors import AppError
from kinerja_shared.testing.http import bearer

from kinerja_planning.adapters.tables import Person, School
from kinerja_planning.bootstrap import import_roster_file
from planning_harness import HEADER, SampleSchool, new_nip, start_planning, sistem

SAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "embedded" / "sample_roster.csv"


async def test_sample_roster_is_imported_and_published_per_school(planning):
    response = await planning.import_csv(SAMPLE.read_text())
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["schools"], body["people"]) == (1, 8) and body["import_id"]

    [(subject, envelope, headers)] = await planning.events(
        "planning.roster.imported", import_id=body["import_id"]
    )
    assert subject == "kinerja.planning.roster.imported.020000.020500"
    assert headers["Nats-Msg-Id"] == envelope["event_id"]
    payload = envelope["payload"]
    assert payload["school"] == {
        "npsn": "20212345", "name": "SD Negeri 1 Cibinong", "region": "020500",
        "jenjang": "SD", "status": "Negeri", "province": "020000",
    }
    assert payload["left"] == []
    people = {p["nip"]: p for p in payload["people"]}
    assert len(people) == 8  # six guru, the kepala sekolah and the pengawas who assesses her
    assert people["196805141993031002"]["role"] == "pengawas"
    assert people["197204151998022001"]["assessor_nip"] == "196805141993031002"
    assert people["198503122010012001"]["assessor_nip"] == "197204151998022001"
    assert people["199107082019032005"]["asn_status"] == "PPPK"
    assert people["199002202015032003"]["jenis_ptk"] == "Guru Mapel"
    assert people["198503122010012001"]["nuptk"] == "1203852010030003"
    assert all("nik" not in p for p in people.values())  # personal data stays in planning

    # The school's people as the dinas and the kepala sekolah see them.
    listed = await planning.client.get("/v1/schools/20212345/people", headers=sistem())
    assert listed.status_code == 200
    school = listed.json()
    assert (school["npsn"], school["name"], school["region_code"]) == ("20212345", "SD Negeri 1 Cibinong", "020500")
    assert (school["jenjang"], school["status"], school["province_code"]) == ("SD", "Negeri", "020000")
    assert len(school["people"]) == 7 and school["people"][0]["role"] == "kepala_sekolah"
    assert set(school["people"][0]) == {
        "nip", "name", "role", "jabatan", "jenjang", "golongan", "asn_status", "assessor_nip",
        "nuptk", "nik", "jenis_ptk",
    }
    assert (school["people"][0]["nik"], school["people"][0]["jenis_ptk"]) == ("3201015504720002", "Kepala Sekolah")
    ks = bearer("kepala_sekolah", nip="197204151998022001", npsn="20212345")
    assert (await planning.client.get("/v1/schools/20212345/people", headers=ks)).status_code == 200
    guru = bearer("guru", nip="198503122010012001", npsn="20212345")
    refused = await planning.client.get("/v1/schools/20212345/people", headers=guru)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "peran_tidak_diizinkan"
    other_ks = bearer("kepala_sekolah", nip=new_nip(), npsn="29999999")
    assert (await planning.client.get("/v1/schools/20212345/people", headers=other_ks)).status_code == 403
    missing = await planning.client.get("/v1/schools/29999999/people", headers=sistem())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "sekolah_tidak_ditemukan"


async def test_reimport_updates_idempotently_and_multipart_works(planning):
    school = SampleSchool()
    first = await planning.import_csv(school.csv())
    assert first.status_code == 201
    counts = await planning.counts()
    assert (counts["School"], counts["Person"], counts["RosterImport"]) == (1, 4, 1)

    # Same people, one renamed, sent as a multipart upload: updated in place, not duplicated.
    renamed = school.csv().replace("Guru 1", "Guru Satu, S.Pd.")
    second = await planning.client.post(
        "/v1/roster/imports", files={"file": ("roster.csv", renamed.encode(), "text/csv")}, headers=sistem()
    )
    assert second.status_code == 201, second.text
    assert (second.json()["schools"], second.json()["people"]) == (1, 4)
    counts = await planning.counts()
    assert (counts["School"], counts["Person"], counts["RosterImport"]) == (1, 4, 2)
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, school.guru_nips[1])).name == "Guru Satu, S.Pd."
    [(_, envelope, _)] = await planning.events("planning.roster.imported", import_id=second.json()["import_id"])
    names = {p["nip"]: p["name"] for p in envelope["payload"]["people"]}
    assert names[school.guru_nips[1]] == "Guru Satu, S.Pd."
    assert envelope["payload"]["school"]["region"] == school.region
    await planning.all_outbox_sent()


async def test_a_file_with_bad_lines_imports_nothing_and_reports_every_line(planning):
    school = SampleSchool()
    lines = [
        HEADER,
        school.pengawas_line(),
        school.ks_line(),
        school.guru_line(0),
        school.guru_line(1).replace(school.guru_nips[1], "19851312201001200X"),  # line 5: bad NIP
        school.guru_line(0).replace("Guru 0", "Guru Kembar"),  # line 6: duplicate NIP
        f"{school.npsn},{school.name},{school.region},{new_nip()},Guru X,guru,Guru,Ahli Pertama,III/a,PNS,{new_nip()}",  # line 7: unknown assessor
        f"{school.npsn},{school.name},{school.region},{new_nip()},Guru Y,guru,Guru,Ahli Pertama,III/a,PNS,{school.pengawas_nip}",  # line 8: assessor not a KS
        f"{school.npsn},{school.name},{school.region},{new_nip()},,guru,Guru,Ahli Pertama,III/a,,{school.ks_nip}",  # line 9: missing fields
        f"1234,{school.name},{school.region},{new_nip()},Guru Z,dosen,Guru,Ahli Rendah,III/a,PNS,{school.ks_nip}",  # line 10
    ]
    response = await planning.import_csv("\n".join(lines) + "\n")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "roster_tidak_valid" and "6 baris" in error["message"] and error["message_en"]
    by_line = {d["line"]: d for d in error["details"]}
    assert sorted(by_line) == [5, 6, 7, 8, 9, 10]
    assert by_line[6]["nip"] == school.guru_nips[0] and by_line[6]["problems"] == ["NIP ganda: sudah ada di baris 4"]
    assert len(by_line[9]["problems"]) == 2 and len(by_line[10]["problems"]) == 3
    # Nothing changed: no school, no person, no import record, no outbox event.
    assert set((await planning.counts()).values()) == {0}


async def test_assessor_already_imported_and_operator_sekolah_scope(planning):
    school = SampleSchool()
    assert (await planning.import_csv(school.csv())).status_code == 201

    # An operator sekolah adds a teacher whose kepala sekolah is already in the database.
    operator = bearer("operator_sekolah", npsn=school.npsn)
    newcomer = new_nip()
    only_new = "\n".join([HEADER, school.guru_line(0).replace(school.guru_nips[0], newcomer)]) + "\n"
    added = await planning.import_csv(only_new, operator)
    assert added.status_code == 201, added.text
    [(_, envelope, _)] = await planning.events("planning.roster.imported", import_id=added.json()["import_id"])
    assert {p["nip"] for p in envelope["payload"]["people"]} == {
        school.pengawas_nip, school.ks_nip, newcomer, *school.guru_nips,
    }

    # ...but not another school's rows: nothing of the file is imported.
    before = await planning.counts()
    other = SampleSchool()
    mixed = "\n".join([HEADER, school.guru_line(1), other.pengawas_line(), other.ks_line()]) + "\n"
    refused = await planning.import_csv(mixed, operator)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "roster_di_luar_cakupan"
    assert sorted(d["line"] for d in refused.json()["error"]["details"]) == [3, 4]
    assert await planning.counts() == before

    # Roles that may not import, and bodies that are not a roster.
    for role in ("guru", "kepala_sekolah", "pengawas"):
        response = await planning.import_csv(school.csv(), bearer(role, nip=school.ks_nip, npsn=school.npsn))
        assert response.status_code == 403 and response.json()["error"]["code"] == "peran_tidak_diizinkan"
    no_npsn = await planning.import_csv(school.csv(), bearer("operator_sekolah"))
    assert no_npsn.status_code == 403
    empty = await planning.client.post("/v1/roster/imports", content=b"", headers={"Content-Type": "text/csv", **sistem()})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "berkas_wajib_diisi"
    no_file = await planning.client.post("/v1/roster/imports", files={"other": ("a.csv", b"x")}, headers=sistem())
    assert no_file.status_code == 422 and no_file.json()["error"]["code"] == "berkas_wajib_diisi"
    as_xml = await planning.client.post(
        "/v1/roster/imports", content=b"<roster/>", headers={"Content-Type": "application/xml", **sistem()}
    )
    assert as_xml.status_code == 415 and as_xml.json()["error"]["code"] == "jenis_konten_tidak_didukung"
    huge = await planning.import_csv(school.csv() * 2000)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "berkas_terlalu_besar"
    unauthenticated = await planning.client.post("/v1/roster/imports", content=school.csv().encode())
    assert unauthenticated.status_code == 401
    assert await planning.counts() == before


async def test_cli_imports_through_the_same_use_case_and_the_service_publishes(settings, tmp_path):
    school = SampleSchool()
    good = tmp_path / "roster.csv"
    good.write_text(school.csv())
    result = await import_roster_file(settings, good, "operator-cli")
    assert (result.schools, result.people) == (1, 4)

    bad = tmp_path / "bad.csv"
    bad.write_text(school.csv().replace(school.ks_nip + ",\"Kepala", "123,\"Kepala"))
    with pytest.raises(AppError) as refused:
        await import_roster_file(settings, bad, "operator-cli")
    assert refused.value.code == "roster_tidak_valid"
    # The command line treats the file as the school's whole roster: the stored kepala sekolah
    # is not in it (their NIP is mistyped), so their guru have an assessor who is leaving.
    assert [d["line"] for d in refused.value.details] == [3, 4, 5]
    assert "keluar dari sekolah itu" in refused.value.details[1]["problems"][0]

    # The events written by the CLI wait in the outbox; the running service publishes them.
    async with start_planning(settings) as planning:
        [(subject, envelope, _)] = await planning.events("planning.roster.imported", import_id=result.import_id)
        assert subject.endswith(f".{school.region}")
        async with planning.runtime.session_factory() as session:
            assert (await session.exec(select(School))).one().npsn == school.npsn
        await planning.all_outbox_sent()


def test_cli_command_exit_codes(settings, tmp_path):
    import os
    import subprocess
    import sys

    school = SampleSchool()
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(school.csv())
    bad.write_text(HEADER + "\n,,999,1,X,pengawas,,,,PNS,\n")
    env = {**os.environ, "KINERJA_DATABASE_URL": settings.database_url}
    cli = [sys.executable, "-m", "kinerja_planning", "import-roster"]
    ok = subprocess.run([*cli, str(good)], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert '"people": 4' in ok.stdout
    refused = subprocess.run([*cli, str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "roster_tidak_valid" in refused.stderr and "baris 2" in refused.stderr
