"""Unit tests of the roster line rules. No server, no database."""

from __future__ import annotations

import pytest

from kinerja_planning.domain.roster import KnownPerson, Placement, check_roster, check_scope, parse_roster


# ------------------------------------------------------------------ roster lines

HEADER = "npsn,school_name,region_code,nip,name,role,jabatan,jenjang,golongan,asn_status,assessor_nip"
PENGAWAS = ",,020500,196805141993031002,Hendra,pengawas,Pengawas Sekolah,Ahli Madya,IV/b,PNS,"
KS = "20212345,SD 1,020500,197204151998022001,Siti,kepala_sekolah,Kepala Sekolah,Ahli Madya,IV/a,PNS,196805141993031002"
GURU = "20212345,SD 1,020500,198503122010012001,Dewi,guru,Guru Kelas,Ahli Muda,III/c,PNS,197204151998022001"


def report_for(*lines: str, known=None) -> dict[int, list[str]]:
    parsed = parse_roster(("\n".join([HEADER, *lines]) + "\n").encode())
    return {d["line"]: d["problems"] for d in check_roster(parsed, known or {})}


def test_a_good_file_has_no_problems_and_canonical_values():
    parsed = parse_roster(("\ufeff" + "\n".join([HEADER, PENGAWAS, KS, GURU.replace("guru", "GURU").replace("Ahli Muda", "ahli muda")]) + "\n\n").encode())
    assert check_roster(parsed, {}) == []
    guru = parsed.rows[-1]
    assert (guru.line, guru.role, guru.jenjang, guru.assessor_nip) == (4, "guru", "Ahli Muda", "197204151998022001")
    assert parsed.rows[0].npsn is None and parsed.rows[0].assessor_nip is None


def test_every_bad_line_is_reported_with_every_problem():
    report = report_for(
        PENGAWAS,
        KS,
        GURU,
        # line 5: impossible NIP month, unknown jenjang
        "20212345,SD 1,020500,198503122010132002,Agus,guru,Guru,Ahli Super,III/b,PNS,197204151998022001",
        # line 6: bad NPSN, bad region, unknown role and asn_status
        "2021234,SD 1,02050,199002202015032003,Rina,murid,Guru,Ahli Pertama,III/a,HONORER,197204151998022001",
        # line 7: duplicate NIP of line 4
        GURU.replace("Dewi", "Dewi Dua"),
        # line 8: assessor nobody knows
        "20212345,SD 1,020500,198209182009021004,Bambang,guru,Guru,Ahli Muda,III/d,PNS,197001011995011001",
        # line 9: a guru assessed by the pengawas, not by a kepala sekolah
        "20212345,SD 1,020500,199107082019032005,Nur,guru,Guru,Ahli Pertama,III/a,PNS,196805141993031002",
        # line 10: missing name and assessor
        "20212345,SD 1,020500,197912302005011006,,guru,Guru,Ahli Madya,IV/a,PNS,",
        # line 11: too few columns
        "20212345,SD 1,020500",
    )
    assert sorted(report) == [5, 6, 7, 8, 9, 10, 11]
    assert any("bulan TMT" in p for p in report[5]) and any("jenjang 'Ahli Super'" in p for p in report[5])
    assert len(report[6]) == 4
    assert any("NPSN" in p for p in report[6]) and any("kode wilayah" in p for p in report[6])
    assert any("role 'murid'" in p for p in report[6]) and any("asn_status 'HONORER'" in p for p in report[6])
    assert report[7] == ["NIP ganda: sudah ada di baris 4"]
    assert "tidak ada di berkas" in report[8][0]
    assert "harus kepala sekolah dari sekolah yang sama" in report[9][0]
    assert set(report[10]) == {"name wajib diisi", "assessor_nip wajib diisi untuk guru dan kepala sekolah"}
    assert "jumlah kolom" in report[11][0]


def test_pppk_nip_is_checked_for_shape_only():
    pppk = "20212345,SD 1,020500,199113132021212001,Nur,guru,Guru,Ahli Pertama,IX,PPPK,197204151998022001"
    assert report_for(PENGAWAS, KS, pppk) == {}
    assert 4 in report_for(PENGAWAS, KS, pppk.replace("PPPK", "PNS"))
    assert report_for(PENGAWAS, KS, pppk.replace("199113132021212001", "19911313202121200"))[4] == ["NIP harus 18 digit angka"]


def test_assessors_already_in_the_database_are_accepted_when_they_fit():
    ks = KnownPerson("197204151998022001", "kepala_sekolah", "20212345")
    assert report_for(GURU, known={ks.nip: ks}) == {}
    other_school = KnownPerson(ks.nip, "kepala_sekolah", "29999999")
    assert "sekolah yang sama" in report_for(GURU, known={ks.nip: other_school})[2][0]
    pengawas = KnownPerson("196805141993031002", "pengawas", None)
    assert report_for(KS, known={pengawas.nip: pengawas}) == {}
    as_guru = KnownPerson(pengawas.nip, "guru", "20212345")
    assert "harus pengawas" in report_for(KS, known={pengawas.nip: as_guru})[2][0]


def test_kepala_sekolah_must_be_assessed_by_a_pengawas():
    ks_by_guru = KS.replace("196805141993031002", "198503122010012001")
    report = report_for(ks_by_guru, GURU)
    assert report[2] == ["penilai kepala sekolah (198503122010012001) harus pengawas sekolah"]


def test_pengawas_rows_have_no_school_and_no_assessor():
    report = report_for(PENGAWAS.replace(",,020500", "20212345,SD 1,020500").rstrip(",") + ",197204151998022001")
    assert set(report[2]) == {
        "pengawas tidak terikat pada satu sekolah: npsn dan school_name harus kosong",
        "assessor_nip pengawas harus kosong",
    }


def test_an_importer_writes_only_schools_and_people_in_their_scope():
    other = "29999999,SD 2,020500,199002202015032003,Rina,guru,Guru,Ahli Pertama,III/a,PNS,197204151998022001"
    parsed = parse_roster(("\n".join([HEADER, PENGAWAS, KS, GURU, other]) + "\n").encode())

    def scope(*, may, schools=None, people=None) -> dict[int, list[str]]:
        return {d["line"]: d["problems"] for d in check_scope(parsed.rows, may=may, schools=schools or {}, people=people or {})}

    # An operator sekolah: their school only, so neither the pengawas' line nor another school's.
    own_school = lambda npsn, region: npsn == "20212345"  # noqa: E731
    assert set(scope(may=own_school)) == {2, 5}
    # ...nor someone now at another school, even on a line of their own school.
    moved = scope(may=own_school, people={"198503122010012001": Placement("20219999", "020500")})
    assert set(moved) == {2, 4, 5} and "NPSN 20219999" in moved[4][0]
    assert 4 not in scope(may=own_school, people={"198503122010012001": Placement("20212345", "020500")})
    # A district's Dinas: a school stored in another district is not theirs, whatever the file says.
    district = lambda npsn, region: region == "020500"  # noqa: E731
    assert scope(may=district) == {}
    assert set(scope(may=district, schools={"29999999": "020600"})) == {5}


def test_one_school_keeps_one_name_and_region():
    report = report_for(PENGAWAS, KS, GURU.replace("SD 1,020500", "SD Satu,020500"))
    assert "berbeda dengan baris 3" in report[4][0]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "berkas kosong"),
        (b"npsn,nip,name\n1,2,3\n", "kolom wajib tidak ada"),
        ((HEADER + "\n").encode(), "tidak berisi satu pun baris data"),
        (b"\xff\xfe\x00n\x00p", "UTF-8"),
    ],
)
def test_unreadable_files_are_reported_on_line_1(data, problem):
    parsed = parse_roster(data)
    report = check_roster(parsed, {})
    assert report[0]["line"] == 1 and problem in report[0]["problems"][0]
    assert parsed.rows == []
