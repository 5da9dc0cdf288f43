"""The Dapodik columns, people who left, and the JSON import through the HTTP API and the
streamed command-line import. Real NATS JetStream and a real database (SQLite, then
PostgreSQL). Every refusal is checked for its error and for nothing written or published."""

from __future__ import annotations

import csv
import io

from kinerja_shared.testing.http import bearer

from kinerja_planning.adapters.tables import Person, School
from kinerja_planning.service_layer.roster_stream import import_roster_path
from planning_harness import DAPODIK_HEADER, HEADER, SampleSchool, new_nip, sistem
from test_roster_stream import OPERATOR, _file


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_dapodik_columns_are_stored_and_an_old_file_keeps_them(planning):
    school = SampleSchool(dapodik=True, jenjang="SMP", status="Swasta")
    response = await planning.import_csv(school.csv())
    assert response.status_code == 201, response.text
    [(_, envelope, _)] = await planning.events("planning.roster.imported", import_id=response.json()["import_id"])
    payload = envelope["payload"]
    assert (payload["school"]["jenjang"], payload["school"]["status"]) == ("SMP", "Swasta")
    assert payload["school"]["province"] == school.region[:2] + "0000"
    guru = next(p for p in payload["people"] if p["nip"] == school.guru_nips[0])
    assert guru["jenis_ptk"] == "Guru Kelas" and len(guru["nuptk"]) == 16 and "nik" not in guru
    async with planning.runtime.session_factory() as session:
        stored = await session.get(Person, school.guru_nips[0])
        assert stored.nik == school.nik(school.guru_nips[0]) and stored.jenis_ptk == "Guru Kelas"
        assert (await session.get(School, school.npsn)).jenjang == "SMP"

    # The same people from an export without the Dapodik columns: nothing changes or is lost.
    outbox = await planning.count_outbox()
    school.dapodik = False
    again = await planning.import_csv(school.csv())
    assert again.status_code == 201, again.text
    assert (again.json()["unchanged"], again.json()["published_schools"]) == (4, 0)
    assert await planning.count_outbox() == outbox
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, school.guru_nips[0])).nik == school.nik(school.guru_nips[0])
        assert (await session.get(School, school.npsn)).status == "Swasta"


async def test_bad_nik_or_nuptk_changes_nothing_and_publishes_nothing(planning):
    school = SampleSchool(dapodik=True)
    assert (await planning.import_csv(school.csv())).status_code == 201
    before = await planning.counts()
    nik = school.nik(school.guru_nips[0])
    lines = school.csv().splitlines()
    lines[3] = lines[3].replace(nik, nik[:-1])  # 15 digits
    nuptk = lines[4].split(",")[-3]
    lines[4] = lines[4].replace(nuptk, nuptk[:-2] + "AB")
    lines[2] = lines[2].replace("Kepala, S.Pd.", "Kepala Baru, S.Pd.")  # a good change, not written either
    response = await planning.import_csv("\n".join(lines) + "\n")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "roster_tidak_valid" and "2 baris" in error["message"]
    assert [(d["line"], d["problems"]) for d in error["details"]] == [
        (4, ["NIK harus 16 digit angka"]), (5, ["NUPTK harus 16 digit angka"]),
    ]
    assert await planning.counts() == before
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, school.ks_nip)).name == "Kepala, S.Pd."


async def test_a_complete_import_finds_who_left_and_publishes_them(planning):
    school = SampleSchool(dapodik=True, guru_nips=[new_nip(1985), new_nip(1990), new_nip(1992)])
    assert (await planning.import_csv(school.csv())).status_code == 201
    leaver = school.guru_nips[2]
    without = "\n".join(line for line in school.csv().splitlines() if leaver not in line) + "\n"

    # A partial import (the default) of the same lines only adds and updates: nobody leaves.
    outbox = await planning.count_outbox()
    partial = await planning.import_csv(without)
    assert (partial.json()["left"], partial.json()["published_schools"]) == (0, 0)
    assert await planning.count_outbox() == outbox

    # complete=true: the file is the school's whole roster (the school's operator, so without
    # the pengawas line, who is of no school).
    own = "\n".join(line for line in without.splitlines() if not line.startswith(",,")) + "\n"
    response = await planning.client.post(
        "/v1/roster/imports?complete=true", content=own.encode(),
        headers={"Content-Type": "text/csv", **bearer("operator_sekolah", npsn=school.npsn)},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["left"], body["unchanged"], body["published_schools"]) == (1, 3, 1)
    [(_, envelope, _)] = await planning.events("planning.roster.imported", import_id=body["import_id"])
    assert envelope["payload"]["left"] == [leaver]
    assert leaver not in {p["nip"] for p in envelope["payload"]["people"]}
    async with planning.runtime.session_factory() as session:
        gone = await session.get(Person, leaver)
        assert (gone.npsn, gone.left_npsn) == (None, school.npsn) and gone.left_at is not None
    listed = await planning.client.get(f"/v1/schools/{school.npsn}/people", headers=sistem())
    assert leaver not in {p["nip"] for p in listed.json()["people"]}
    readiness = await planning.client.get(f"/v1/readiness/schools/{school.npsn}", headers=sistem())
    assert (readiness.json()["people"], readiness.json()["ready"]) == (3, True)
    # Who left can no longer plan.
    created = await planning.client.post(
        "/v1/plans", json={"period_id": "x", "indicators": ["A.1"], "summary": "s"}, headers=school.guru(2)
    )
    assert created.status_code == 403 and "tidak_terdaftar" in created.json()["error"]["code"]

    # The same complete file again: nothing leaves, nothing is published.
    outbox = await planning.count_outbox()
    again = await planning.client.post(
        "/v1/roster/imports?complete=true", content=without.encode(), headers={"Content-Type": "text/csv", **sistem()}
    )
    assert (again.json()["left"], again.json()["published_schools"]) == (0, 0)
    assert await planning.count_outbox() == outbox

    # Back in a later file: added again, at the school.
    back = await planning.import_csv(school.csv())
    assert (back.json()["added"], back.json()["unchanged"], back.json()["published_schools"]) == (1, 4, 1)
    async with planning.runtime.session_factory() as session:
        returned = await session.get(Person, leaver)
        assert (returned.npsn, returned.left_npsn, returned.left_at) == (school.npsn, None, None)
    await planning.all_outbox_sent()


async def test_a_complete_file_without_the_kepala_sekolah_its_guru_name_is_refused(planning):
    school = SampleSchool(dapodik=True)
    assert (await planning.import_csv(school.csv())).status_code == 201
    before = await planning.counts()
    only_guru = "\n".join([school.header(), school.guru_line(0), school.guru_line(1)]) + "\n"
    response = await planning.client.post(
        "/v1/roster/imports?complete=true", content=only_guru.encode(), headers={"Content-Type": "text/csv", **sistem()}
    )
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert [d["line"] for d in details] == [2, 3]
    assert "penilai ini keluar dari sekolah itu" in details[0]["problems"][0]
    assert await planning.counts() == before
    # Not complete, the same lines are a plain update.
    assert (await planning.import_csv(only_guru)).status_code == 201


async def test_json_import_follows_the_csv_rules(planning):
    school = SampleSchool(dapodik=True)
    rows = _rows(school.csv())
    response = await planning.client.post("/v1/roster/imports", json={"rows": rows}, headers=sistem())
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["schools"], body["people"], body["added"], body["published_schools"]) == (1, 4, 4, 1)
    [(_, envelope, _)] = await planning.events("planning.roster.imported", import_id=body["import_id"])
    assert len(envelope["payload"]["people"]) == 4

    # The same roster as CSV changes nothing.
    outbox = await planning.count_outbox()
    same = await planning.import_csv(school.csv())
    assert (same.json()["unchanged"], same.json()["published_schools"]) == (4, 0)
    assert await planning.count_outbox() == outbox

    # Bad rows: every one reported by its position, nothing written.
    before = await planning.counts()
    ghost = rows[3] | {"nip": new_nip(), "npsn": "29999995", "school_name": ""}  # a school that does not exist
    bad = [rows[0], rows[1] | {"name": "Kepala Baru"}, rows[2] | {"nik": "1"}, ghost, rows[3] | {"role": 7}]
    refused = await planning.client.post("/v1/roster/imports", json={"rows": bad}, headers=sistem())
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "roster_tidak_valid"
    by_line = {d["line"]: d["problems"] for d in error["details"]}
    assert by_line[3] == ["NIK harus 16 digit angka"]
    assert "sekolah NPSN 29999995 tidak ada" in by_line[4][0]
    assert by_line[5] == ["role harus berupa teks (string)"]
    assert sorted(by_line) == [3, 4, 5]

    broken = await planning.client.post(
        "/v1/roster/imports", content=b'{"rows": [', headers={"Content-Type": "application/json", **sistem()}
    )
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "input_tidak_valid"
    no_rows = await planning.client.post("/v1/roster/imports", json={"people": rows}, headers=sistem())
    assert no_rows.status_code == 422
    assert [d["line"] for d in no_rows.json()["error"]["details"]] == [0]
    operator = bearer("operator_sekolah", npsn="29999994")
    other_school = await planning.client.post("/v1/roster/imports", json={"rows": rows[1:]}, headers=operator)
    assert other_school.status_code == 403
    assert all("di luar cakupan Anda" in d["problems"][0] for d in other_school.json()["error"]["details"])
    assert await planning.counts() == before
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, school.ks_nip)).name == "Kepala, S.Pd."


async def test_streamed_complete_import_finds_who_left_across_batches(planning, tmp_path):
    a, b = SampleSchool(dapodik=True), SampleSchool(dapodik=True)
    full = [DAPODIK_HEADER, a.pengawas_line(), b.pengawas_line(), a.ks_line(), b.ks_line(),
            a.guru_line(0), a.guru_line(1), b.guru_line(0), b.guru_line(1)]
    first = await import_roster_path(planning.runtime.uow, OPERATOR, _file(tmp_path, full), batch_size=2, complete=True)
    assert (first.added, first.left) == (8, 0)

    # A's guru 1 is gone; B's guru 0 moved to A. Only A lists its whole roster in this file...
    moved = b.guru_line(0).replace(f"{b.npsn},{b.name},", f"{a.npsn},{a.name},").replace(b.ks_nip, a.ks_nip)
    moved = moved.replace(b.region, a.region).replace(f",{b.region[:2]}0000,", f",{a.region[:2]}0000,")
    lines = [DAPODIK_HEADER, a.ks_line(), a.guru_line(0), moved]
    phases: list[str] = []
    result = await import_roster_path(
        planning.runtime.uow, OPERATOR, _file(tmp_path, lines), batch_size=2, complete=True,
        progress=lambda p, d, t: phases.append(p),
    )
    assert (result.left, result.moved, result.unchanged) == (1, 1, 2)
    assert "keluar" in phases
    # The move publishes A and B; then A again, without who left.
    events = await planning.events("planning.roster.imported", n=3, import_id=result.import_id)
    with_left = [e["payload"] for _, e, _ in events if e["payload"]["left"]]
    assert [(p["school"]["npsn"], p["left"]) for p in with_left] == [(a.npsn, [a.guru_nips[1]])]
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, a.guru_nips[1])).npsn is None
        # ...so B's other guru, absent from it, stays: B is not listed by this file.
        assert (await session.get(Person, b.guru_nips[1])).npsn == b.npsn
        assert (await session.get(Person, b.guru_nips[0])).npsn == a.npsn

    # Refused as a whole when a guru names a kepala sekolah who would leave; nothing changes.
    before = await planning.counts()
    only_guru = [DAPODIK_HEADER, b.guru_line(1)]
    try:
        await import_roster_path(planning.runtime.uow, OPERATOR, _file(tmp_path, only_guru), batch_size=2, complete=True)
    except Exception as exc:  # noqa: BLE001 - the AppError is checked below
        error = exc
    assert getattr(error, "code", None) == "roster_tidak_valid"
    assert "keluar dari sekolah itu" in error.details[0]["problems"][0]
    assert await planning.counts() == before


async def test_old_header_files_still_import(planning):
    school = SampleSchool()
    response = await planning.import_csv(school.csv())
    assert response.status_code == 201 and school.csv().startswith(HEADER + "\n")
    async with planning.runtime.session_factory() as session:
        stored = await session.get(School, school.npsn)
        assert (stored.jenjang, stored.status, stored.province_code) == ("", "", school.region[:2] + "0000")
