"""Unit tests of the Dapodik columns, the JSON form of the roster and the readiness checks of
NIK and jenis PTK. No server, no database."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kinerja_planning.domain.readiness import Assessor, school_issues
from kinerja_planning.domain.roster import (
    COLUMNS, KnownPerson, check_roster, parse_roster, parse_roster_json, parse_roster_rows,
)

HEADER = ",".join(COLUMNS) + ",school_jenjang,school_status,province_code,nuptk,nik,jenis_ptk"
PENGAWAS = (",,020500,196805141993031002,Hendra,pengawas,Pengawas Sekolah,Ahli Madya,IV/b,PNS,,"
            ",,020000,1405681993010001,3201011405680001,Pengawas Sekolah")
KS = ("20212345,SD 1,020500,197204151998022001,Siti,kepala_sekolah,Kepala Sekolah,Ahli Madya,IV/a,PNS,"
      "196805141993031002,SD,Negeri,020000,1504721998020002,3201015504720002,Kepala Sekolah")
GURU = ("20212345,SD 1,020500,198503122010012001,Dewi,guru,Guru Kelas,Ahli Muda,III/c,PNS,"
        "197204151998022001,SD,Negeri,020000,1203852010030003,3201015203850003,Guru Kelas")


def report_for(*lines: str, header: str = HEADER, known=None) -> dict[int, list[str]]:
    parsed = parse_roster(("\n".join([header, *lines]) + "\n").encode())
    return {d["line"]: d["problems"] for d in check_roster(parsed, known or {})}


def _set(line: str, column: str, value: str) -> str:
    """The line with one column replaced (no quoted commas in these lines)."""
    values = line.split(",")
    values[HEADER.split(",").index(column)] = value
    return ",".join(values)


def test_dapodik_columns_are_read_with_canonical_spellings():
    guru = _set(_set(_set(GURU, "school_jenjang", "sd"), "school_status", "NEGERI"), "jenis_ptk", "guru  mata pelajaran")
    ks = _set(KS, "school_jenjang", "sd")
    parsed = parse_roster(("\n".join([HEADER, PENGAWAS, ks, _set(guru, "school_status", "negeri")]) + "\n").encode())
    assert check_roster(parsed, {}) == []
    pengawas, ks_row, guru_row = parsed.rows
    assert (guru_row.school_jenjang, guru_row.school_status, guru_row.province_code) == ("SD", "Negeri", "020000")
    assert (guru_row.nuptk, guru_row.nik, guru_row.jenis_ptk) == ("1203852010030003", "3201015203850003", "Guru Mapel")
    assert (pengawas.school_jenjang, pengawas.jenis_ptk) == ("", "Pengawas Sekolah")
    assert report_for(PENGAWAS.replace("Pengawas Sekolah\n", "").rsplit(",", 1)[0] + ",pengawas") == {}


def test_an_old_header_leaves_the_dapodik_columns_unset():
    old_header = ",".join(COLUMNS)
    line = ",".join(GURU.split(",")[: len(COLUMNS)])
    parsed = parse_roster((old_header + "\n" + line + "\n").encode())
    [row] = parsed.rows
    assert (row.school_jenjang, row.school_status, row.province_code, row.nuptk, row.nik, row.jenis_ptk) == (None,) * 6
    # Present but empty is a value: "" (clears what is stored).
    parsed = parse_roster((HEADER + "\n" + _set(_set(GURU, "nik", ""), "jenis_ptk", "") + "\n").encode())
    assert (parsed.rows[0].nik, parsed.rows[0].jenis_ptk, parsed.rows[0].nuptk) == ("", "", "1203852010030003")


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("nik", "320101520385000", "NIK harus 16 digit angka"),
        ("nik", "320101520385000X", "NIK harus 16 digit angka"),
        ("nik", "3201019203850003", "tanggal lahir pada NIK tidak mungkin"),
        ("nik", "0001015203850003", "kode provinsi pada NIK tidak mungkin"),
        ("nuptk", "12038520100300", "NUPTK harus 16 digit angka"),
        ("nuptk", "12038520100300AB", "NUPTK harus 16 digit angka"),
        ("jenis_ptk", "Dosen", "jenis_ptk 'Dosen' tidak dikenal"),
        ("school_jenjang", "Universitas", "school_jenjang 'Universitas' tidak dikenal"),
        ("school_status", "Campuran", "school_status 'Campuran' tidak dikenal (Negeri, Swasta)"),
        ("province_code", "0200", "province_code: kode wilayah harus 6 digit angka"),
        ("province_code", "030000", "province_code 030000 tidak sesuai dengan region_code 020500 (provinsinya 020000)"),
    ],
)
def test_bad_dapodik_values_are_reported_on_their_line(column, value, problem):
    report = report_for(PENGAWAS, KS, _set(GURU, column, value))
    assert list(report) == [4]
    assert any(p.startswith(problem) for p in report[4]), report[4]


def test_a_pengawas_has_no_school_jenjang_and_one_school_keeps_one_jenjang():
    report = report_for(_set(PENGAWAS, "school_jenjang", "SD"))
    assert report[2] == ["pengawas tidak terikat pada satu sekolah: school_jenjang dan school_status harus kosong"]
    report = report_for(PENGAWAS, KS, _set(GURU, "school_jenjang", "SMP"))
    assert report == {4: ["data sekolah NPSN 20212345 (nama, kode wilayah, jenjang, status) berbeda dengan baris 3"]}


def test_an_assessor_leaving_a_school_the_complete_file_lists_is_refused():
    ks = KnownPerson("197204151998022001", "kepala_sekolah", "20212345", leaving=True)
    report = report_for(GURU, known={ks.nip: ks})
    assert report[2] == [
        "assessor_nip 197204151998022001 tidak ada di berkas, yang memuat seluruh roster sekolah NPSN "
        "20212345: penilai ini keluar dari sekolah itu"
    ]
    staying = KnownPerson(ks.nip, ks.role, ks.npsn)
    assert report_for(GURU, known={ks.nip: staying}) == {}


def _as_json(*lines: str) -> list[dict]:
    header = HEADER.split(",")
    return [dict(zip(header, line.split(","))) for line in lines]


def test_json_rows_follow_the_same_rules_as_csv():
    rows = _as_json(PENGAWAS, KS, GURU)
    parsed = parse_roster_json({"rows": rows})
    assert check_roster(parsed, {}) == []
    csv_rows = parse_roster(("\n".join([HEADER, PENGAWAS, KS, GURU]) + "\n").encode()).rows
    # The same rows; only the numbering differs (CSV line 1 is the header).
    assert [r.__dict__ | {"line": 0} for r in parsed.rows] == [r.__dict__ | {"line": 0} for r in csv_rows]
    assert [r.line for r in parsed.rows] == [1, 2, 3]

    # Keys left out: empty columns, Dapodik columns not carried; null is empty.
    sparse = {k: v for k, v in rows[2].items() if k not in ("nik", "jabatan")} | {"nuptk": None}
    [row] = parse_roster_rows([sparse]).rows
    assert (row.nik, row.jabatan, row.nuptk) == (None, "", "")


def test_bad_json_documents_and_rows_are_reported():
    def report(document) -> dict[int, list[str]]:
        return {d["line"]: d["problems"] for d in check_roster(parse_roster_json(document), {})}

    assert report([]) == {0: ['badan JSON harus berupa objek {"rows": [...]}']}
    assert report({}) == {0: ["rows wajib berupa daftar (array) baris roster"]}
    assert report({"rows": []}) == {0: ["rows tidak berisi satu pun baris data"]}
    assert report({"rows": [], "complete": True})[0][-1] == "kunci 'complete' tidak dikenal (hanya rows)"
    pengawas, ks, guru = _as_json(PENGAWAS, KS, GURU)
    found = report({"rows": [
        pengawas, ks, "not a row", guru | {"nip": 198503122010012001}, guru | {"email": "x@y"},
        guru | {"nip": "198711052011011002", "nik": "123"},
    ]})
    assert found == {
        3: ["baris harus berupa objek JSON"],
        4: ["nip harus berupa teks (string)"],
        5: ["kolom 'email' tidak dikenal"],
        6: ["NIK harus 16 digit angka"],
    }


@dataclass
class P:
    nip: str
    name: str
    role: str
    nik: str = ""
    jenis_ptk: str = ""
    golongan: str = "III/a"
    asn_status: str = "PNS"
    npsn: str | None = "20212345"
    region_code: str = "020500"
    assessor_nip: str | None = None


def test_readiness_checks_nik_and_jenis_ptk_with_their_actors():
    ks = P("197204151998022001", "Siti", "kepala_sekolah", "3201015504720002", "Kepala Sekolah",
           assessor_nip="196805141993031002")
    people = [
        ks,
        P("198503122010012001", "ok", "guru", "3201015203850003", "Guru Kelas", assessor_nip=ks.nip),
        P("198711052011011002", "no nik", "guru", "", "Guru Mapel", assessor_nip=ks.nip),
        P("199002202015032003", "bad nik", "guru", "3201019902900005", "Guru Mapel", assessor_nip=ks.nip),
        P("198209182009021004", "man's nip, woman's nik", "guru", "3201015809820006", "Guru Mapel", assessor_nip=ks.nip),
        P("199107082019032005", "pppk", "guru", "3201010101010007", "Guru Kelas", asn_status="PPPK", assessor_nip=ks.nip),
        P("197912302005011006", "no jenis", "guru", "3201013012790008", "", assessor_nip=ks.nip),
        P("198001012005011007", "ks by jenis", "guru", "3201010101800009", "Kepala Sekolah", assessor_nip=ks.nip),
    ]
    assessors = {ks.nip: Assessor("kepala_sekolah", "20212345"), ks.assessor_nip: Assessor("pengawas", None)}
    found = {(i.code, i.name, i.actor) for i in school_issues("020500", people, assessors, "20212345")}
    assert found == {
        ("nik_tidak_ada", "no nik", "operator_sekolah"),
        ("nik_tidak_valid", "bad nik", "operator_sekolah"),
        ("nik_nip_tidak_sesuai", "man's nip, woman's nik", "bkd"),  # PPPK numbers carry no birth date
        ("jenis_ptk_tidak_ada", "no jenis", "operator_sekolah"),
        ("jenis_ptk_tidak_sesuai", "ks by jenis", "operator_sekolah"),
    }
