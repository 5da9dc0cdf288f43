"""Re-import publishes only what changed, and the file encodings Dapodik exports come in.
Real NATS JetStream and a real database (SQLite, then PostgreSQL)."""

from __future__ import annotations

from kinerja_planning.adapters.tables import Person, School
from planning_harness import HEADER, SampleSchool, new_nip


async def test_same_file_twice_publishes_nothing_the_second_time(planning):
    school = SampleSchool()
    first = await planning.import_csv(school.csv())
    assert first.status_code == 201, first.text
    assert (first.json()["added"], first.json()["published_schools"]) == (4, 1)
    outbox = await planning.count_outbox()

    again = await planning.import_csv(school.csv())
    assert again.status_code == 201, again.text
    body = again.json()
    assert (body["added"], body["changed"], body["moved"], body["unchanged"]) == (0, 0, 0, 4)
    assert body["published_schools"] == 0
    assert await planning.count_outbox() == outbox  # no event written, so none published


async def test_only_schools_whose_people_changed_are_published(planning):
    a, b = SampleSchool(), SampleSchool()
    b.pengawas_nip = a.pengawas_nip  # one pengawas covers both schools
    both = a.csv() + "\n".join([b.ks_line(), b.guru_line(0), b.guru_line(1)]) + "\n"
    assert (await planning.import_csv(both)).status_code == 201

    # One guru of school A renamed: only A's snapshot is published.
    renamed = both.replace("Guru 0\",guru,Guru Kelas,Ahli Pertama,III/a,PNS," + a.ks_nip,
                           "Guru Nol\",guru,Guru Kelas,Ahli Pertama,III/a,PNS," + a.ks_nip)
    assert renamed != both
    response = await planning.import_csv(renamed)
    body = response.json()
    assert (body["changed"], body["unchanged"], body["published_schools"]) == (1, 6, 1), body
    events = await planning.events("planning.roster.imported", import_id=body["import_id"])
    assert [e["payload"]["school"]["npsn"] for _, e, _ in events] == [a.npsn]

    # A guru moves from A to B: both schools' snapshots, A without them and B with them.
    mover = a.guru_nips[1]
    moved_line = a.guru_line(1).replace(a.npsn, b.npsn).replace(a.ks_nip, b.ks_nip)
    response = await planning.import_csv("\n".join([HEADER, moved_line]) + "\n")
    body = response.json()
    assert (body["moved"], body["published_schools"]) == (1, 2), body
    events = await planning.events("planning.roster.imported", n=2, import_id=body["import_id"])
    people = {e["payload"]["school"]["npsn"]: {p["nip"] for p in e["payload"]["people"]} for _, e, _ in events}
    assert mover not in people[a.npsn] and mover in people[b.npsn]
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, mover)).npsn == b.npsn

    # The shared pengawas renamed: every school whose kepala sekolah they assess is republished.
    response = await planning.import_csv(
        "\n".join([HEADER, a.pengawas_line().replace("Drs. Pengawas", "Dr. Pengawas")]) + "\n"
    )
    body = response.json()
    assert (body["changed"], body["published_schools"]) == (1, 2), body
    events = await planning.events("planning.roster.imported", n=2, import_id=body["import_id"])
    assert sorted(e["payload"]["school"]["npsn"] for _, e, _ in events) == sorted([a.npsn, b.npsn])
    await planning.all_outbox_sent()


async def test_windows_1252_and_utf8_bom_files_are_decoded(planning):
    school = SampleSchool()
    text = school.csv().replace("Guru 0", "Guru Café Ñoño").replace("SD Negeri Uji", "SD Negeri Uji Šibolga")
    # Excel on Windows: CRLF and Windows-1252.
    response = await planning.import_csv_bytes(text.replace("\n", "\r\n").encode("cp1252"))
    assert response.status_code == 201, response.text
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, school.guru_nips[0])).name == "Guru Café Ñoño"
        assert (await session.get(School, school.npsn)).name == "SD Negeri Uji Šibolga"

    # The same content with a UTF-8 BOM is the same roster: nothing changes, nothing published.
    outbox = await planning.count_outbox()
    response = await planning.import_csv_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert response.status_code == 201, response.text
    assert (response.json()["unchanged"], response.json()["published_schools"]) == (4, 0)
    assert await planning.count_outbox() == outbox


async def test_wrong_header_binary_and_truncated_last_line_change_nothing(planning):
    school = SampleSchool()
    assert (await planning.import_csv(school.csv())).status_code == 201
    before = await planning.counts()

    wrong = school.csv().replace("assessor_nip", "penilai").replace("npsn,", "kode_sekolah,", 1)
    response = await planning.import_csv(wrong)
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["line"] == 1 and detail["problems"] == ["kolom wajib tidak ada: npsn, assessor_nip"]

    binary = await planning.import_csv_bytes(b"PK\x03\x04\x00\x00binary spreadsheet")
    assert binary.status_code == 422
    [detail] = binary.json()["error"]["details"]
    assert detail["line"] == 1 and "encoding" in detail["problems"][0]

    # The upload broke off in the middle of the last line (no newline, columns missing).
    newcomer = new_nip()
    full = school.guru_line(0).replace(school.guru_nips[0], newcomer)
    truncated = school.csv() + full[: full.index(",Guru Kelas")]
    response = await planning.import_csv(truncated)
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["line"] == 6 and detail["nip"] == newcomer
    assert detail["problems"] == ["jumlah kolom harus 11, ditemukan 6"]

    # ...and one cut inside a quoted name.
    cut_quote = school.csv() + full[: full.index("Guru 0") + 3]
    response = await planning.import_csv(cut_quote)
    assert response.status_code == 422
    assert [d["line"] for d in response.json()["error"]["details"]] == [6]
    assert await planning.counts() == before


async def test_a_line_moving_someone_to_a_school_that_does_not_exist_changes_nothing(planning):
    a, b = SampleSchool(), SampleSchool()
    b.pengawas_nip = a.pengawas_nip
    b.region = a.region
    assert (await planning.import_csv(a.csv() + "\n".join([b.ks_line(), b.guru_line(0)]) + "\n")).status_code == 201
    before = await planning.counts()

    # A guru of A moved to an NPSN nobody registered, the school name left empty as operators do.
    ghost = "29999998"
    moved = a.guru_line(0).replace(f"{a.npsn},{a.name},", f"{ghost},,")
    fine = a.guru_line(1, name="Guru Satu Baru")
    response = await planning.import_csv("\n".join([HEADER, fine, moved]) + "\n")
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["line"] == 3 and detail["nip"] == a.guru_nips[0]
    assert detail["problems"] == [
        f"sekolah NPSN {ghost} tidak ada: belum terdaftar dan tidak ada baris yang memuat school_name-nya",
        f"penilai guru ({a.ks_nip}) harus kepala sekolah dari sekolah yang sama",
    ]
    assert await planning.counts() == before
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, a.guru_nips[1])).name == "Guru 1"

    # To a school that is registered, the name may be left empty: the move goes through.
    to_b = a.guru_line(0).replace(f"{a.npsn},{a.name},", f"{b.npsn},,").replace(a.ks_nip, b.ks_nip)
    response = await planning.import_csv("\n".join([HEADER, to_b]) + "\n")
    assert response.status_code == 201, response.text
    assert (response.json()["moved"], response.json()["published_schools"]) == (1, 2)
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, a.guru_nips[0])).npsn == b.npsn
        assert (await session.get(School, b.npsn)).name == b.name  # not renamed to ""
