"""The roster file (CSV, one row per person; or the same rows as JSON) and its rules.

Two passes: :func:`parse_roster` (or :func:`parse_roster_rows` for JSON) checks each line on
its own (identifiers, known values, required fields); :func:`check_roster` checks the lines
against each other and against the people already known (duplicates, who assesses whom, the
operator's own school). Every bad line is reported with every problem it has, so an operator
fixes the file in one go.

The Dapodik columns (``OPTIONAL_COLUMNS``) may be left out of the header, so older files still
import: a column that is absent leaves the stored value as it is; present but empty clears it.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from kinerja_shared.identifiers import (
    nik_problem, nip_problem, npsn_problem, nuptk_problem, province_of, region_problem,
)
from kinerja_shared.limits import ROSTER_FIELD_MAX

# How much of a caller's value a problem quotes back: a bad line's report never echoes a
# megabyte.
_SHOWN = 64


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "…"

COLUMNS = (
    "npsn", "school_name", "region_code", "nip", "name", "role",
    "jabatan", "jenjang", "golongan", "asn_status", "assessor_nip",
)
# Dapodik columns, optional in the header (older files and the first sample lack them).
SCHOOL_COLUMNS = ("school_jenjang", "school_status", "province_code")
PERSON_COLUMNS = ("nuptk", "nik", "jenis_ptk")
OPTIONAL_COLUMNS = SCHOOL_COLUMNS + PERSON_COLUMNS
ROLES = ("guru", "kepala_sekolah", "pengawas")
JENJANG = ("Ahli Pertama", "Ahli Muda", "Ahli Madya", "Ahli Utama")
ASN_STATUSES = ("PNS", "PPPK", "NON_ASN")
SCHOOL_ROLES = ("guru", "kepala_sekolah")
# Dapodik bentuk pendidikan.
SCHOOL_JENJANG = ("TK", "KB", "SD", "SMP", "SMA", "SMK", "SLB", "SDLB", "SMPLB", "SMALB", "PKBM", "SKB")
SCHOOL_STATUSES = ("Negeri", "Swasta")
# Dapodik jenis PTK and the roster role each one means (None: tenaga kependidikan, no role here).
JENIS_PTK: dict[str, str | None] = {
    "Guru Kelas": "guru", "Guru Mapel": "guru", "Guru BK": "guru", "Guru TIK": "guru",
    "Guru Inklusi": "guru", "Guru Pendamping": "guru", "Guru Pendamping Khusus": "guru",
    "Guru Magang": "guru",
    "Kepala Sekolah": "kepala_sekolah",
    "Pengawas Sekolah": "pengawas", "Pengawas Mata Pelajaran": "pengawas", "Pengawas BK": "pengawas",
    "Tenaga Administrasi Sekolah": None, "Tenaga Perpustakaan": None, "Laboran": None,
    "Tenaga Kependidikan Lainnya": None,
}
# Spellings seen in exports, mapped to the names above.
_JENIS_PTK_ALIASES = {"guru mata pelajaran": "Guru Mapel", "pengawas": "Pengawas Sekolah"}


@dataclass(frozen=True)
class RosterRow:
    line: int
    npsn: str | None
    school_name: str
    region_code: str
    nip: str
    name: str
    role: str
    jabatan: str
    jenjang: str
    golongan: str
    asn_status: str
    assessor_nip: str | None
    # Dapodik columns: None when the file does not carry the column (keep what is stored).
    school_jenjang: str | None = None
    school_status: str | None = None
    province_code: str | None = None
    nuptk: str | None = None
    nik: str | None = None
    jenis_ptk: str | None = None

    def school_key(self) -> tuple[str, str, str | None, str | None]:
        return (self.school_name, self.region_code, self.school_jenjang, self.school_status)

    def school_conflict(self, other: RosterRow) -> bool:
        return school_keys_conflict(self.school_key(), other.school_key())


def school_keys_conflict(a: tuple, b: tuple) -> bool:
    """Two lines naming one school disagree on its data (a column one line lacks is no conflict)."""
    return a[:2] != b[:2] or any(x is not None and y is not None and x != y for x, y in zip(a[2:], b[2:]))


@dataclass(frozen=True)
class KnownPerson:
    """Someone already in the database (an assessor the file refers to but does not list)."""

    nip: str
    role: str
    npsn: str | None
    # Stored at a school this (complete) file lists, yet not in the file: they leave it.
    leaving: bool = False


@dataclass
class LineProblems:
    line: int
    nip: str
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"line": self.line, "nip": self.nip, "problems": self.problems}


@dataclass
class ParsedRoster:
    rows: list[RosterRow]
    problems: dict[int, LineProblems]
    # Every data line's NIP, good or bad: duplicates are found across all of them.
    nips_by_line: dict[int, str] = field(default_factory=dict)

    def add(self, line: int, nip: str, problem: str) -> None:
        self.problems.setdefault(line, LineProblems(line, nip)).problems.append(problem)

    def outside_assessor_nips(self) -> set[str]:
        """Assessors the file names but does not list: they must be in the database."""
        listed = set(self.nips_by_line.values())
        return {r.assessor_nip for r in self.rows if r.assessor_nip and r.assessor_nip not in listed}

    def unnamed_school_npsns(self) -> set[str]:
        """Schools the file refers to without naming them anywhere: they must be in the database."""
        named = {r.npsn for r in self.rows if r.npsn and r.school_name}
        return {r.npsn for r in self.rows if r.npsn and r.npsn not in named}

    def report(self) -> list[dict]:
        return [self.problems[line].as_dict() for line in sorted(self.problems)]


_SPELLINGS: dict[tuple[str, ...], dict[str, str]] = {}


def _canonical(value: str, allowed: tuple[str, ...]) -> str | None:
    """The allowed spelling of ``value`` (case and surrounding spaces do not matter)."""
    spellings = _SPELLINGS.get(allowed)
    if spellings is None:  # built once per list: this runs for every line of a province file
        spellings = _SPELLINGS[allowed] = {a.casefold(): a for a in allowed}
    return spellings.get(value.strip().casefold())


_JENIS_PTK_NAMES = tuple(JENIS_PTK)


def canonical_jenis_ptk(value: str) -> str | None:
    wanted = " ".join(value.split()).casefold()
    return _JENIS_PTK_ALIASES.get(wanted) or _canonical(wanted, _JENIS_PTK_NAMES)


def decode_roster(data: bytes) -> str | None:
    """Dapodik exports come as UTF-8 (often with a BOM) or Windows-1252 (Excel on Windows).
    UTF-8 is tried first: a Windows-1252 file with any byte above 0x7F is almost never valid
    UTF-8, so the order decides correctly. None for binary data (NUL bytes, or bytes that
    Windows-1252 leaves undefined)."""
    if b"\x00" in data:
        return None
    with contextlib.suppress(UnicodeDecodeError):
        return data.decode("utf-8-sig")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return None


def parse_roster(data: bytes) -> ParsedRoster:
    """Read the CSV and check each line on its own. The header is line 1."""
    text = decode_roster(data)
    if text is None:
        parsed = ParsedRoster(rows=[], problems={})
        parsed.add(1, "", "berkas bukan teks CSV (encoding yang diterima: UTF-8, UTF-8 dengan BOM, Windows-1252)")
        return parsed
    [parsed] = list(iter_roster(io.StringIO(text, newline=""), batch_size=None))
    return parsed


def iter_roster(text: Iterable[str], batch_size: int | None) -> Iterator[ParsedRoster]:
    """Parse a decoded CSV stream in batches of ``batch_size`` data lines (None: one batch), so
    a province-sized file is never held whole. Each batch carries its own rows and problems."""
    parsed = ParsedRoster(rows=[], problems={})
    reader = csv.reader(text)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        parsed.add(1, "", "berkas kosong: baris judul kolom tidak ada")
        yield parsed
        return
    except csv.Error as exc:
        parsed.add(1, "", f"baris judul tidak dapat dibaca: {exc}")
        yield parsed
        return
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        parsed.add(1, "", f"kolom wajib tidak ada: {', '.join(missing)}")
        yield parsed
        return
    index = {name: header.index(name) for name in (*COLUMNS, *OPTIONAL_COLUMNS) if name in header}
    last_line = reader.line_num
    seen_data = False
    in_batch = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.add(last_line + 1, "", f"baris tidak dapat dibaca: {exc}")
            last_line = reader.line_num
            continue
        line, last_line = last_line + 1, reader.line_num  # a record starts after the previous one
        if not any(v.strip() for v in values):
            continue  # blank lines are harmless
        seen_data = True
        in_batch += 1
        if len(values) != len(header):
            nip = _shown(values[index["nip"]].strip()) if len(values) > index["nip"] else ""
            parsed.add(line, nip, f"jumlah kolom harus {len(header)}, ditemukan {len(values)}")
            if nip:
                parsed.nips_by_line[line] = nip
        else:
            _parse_line(parsed, line, {name: values[i].strip() for name, i in index.items()})
        if batch_size is not None and in_batch >= batch_size:
            yield parsed
            parsed, in_batch = ParsedRoster(rows=[], problems={}), 0
    if not seen_data:
        parsed.add(1, "", "berkas tidak berisi satu pun baris data")
    if in_batch or parsed.problems or batch_size is None:
        yield parsed


def parse_roster_json(document: object) -> ParsedRoster:
    """The JSON body ``{"rows": [...]}``: see :func:`parse_roster_rows`."""
    if not isinstance(document, dict):
        parsed = ParsedRoster(rows=[], problems={})
        parsed.add(0, "", 'badan JSON harus berupa objek {"rows": [...]}')
        return parsed
    parsed = parse_roster_rows(document.get("rows"))
    for key in sorted(set(document) - {"rows"}):
        parsed.add(0, "", f"kunci '{key}' tidak dikenal (hanya rows)")
    return parsed


def parse_roster_rows(rows: object) -> ParsedRoster:
    """The JSON form of the file: ``rows`` is a list of objects keyed by the CSV column names
    (values are strings or null). ``line`` in the report is the row's 1-based position; line 0
    is the document itself. A key left out is an empty column, or for a Dapodik column, a
    column the file does not carry."""
    parsed = ParsedRoster(rows=[], problems={})
    if not isinstance(rows, list):
        parsed.add(0, "", "rows wajib berupa daftar (array) baris roster")
        return parsed
    if not rows:
        parsed.add(0, "", "rows tidak berisi satu pun baris data")
        return parsed
    known = set(COLUMNS) | set(OPTIONAL_COLUMNS)
    for line, raw in enumerate(rows, start=1):
        if not isinstance(raw, dict):
            parsed.add(line, "", "baris harus berupa objek JSON")
            continue
        nip = _shown(raw["nip"]) if isinstance(raw.get("nip"), str) else ""
        bad = False
        for key in sorted(set(raw) - known):
            parsed.add(line, nip.strip(), f"kolom '{_shown(key)}' tidak dikenal")
            bad = True
        for key in sorted(k for k in known & set(raw) if raw[k] is not None and not isinstance(raw[k], str)):
            parsed.add(line, nip.strip(), f"{key} harus berupa teks (string)")
            bad = True
        if bad:
            if nip.strip():
                parsed.nips_by_line[line] = nip.strip()
            continue
        values = {name: (raw.get(name) or "").strip() for name in COLUMNS}
        values.update({name: (raw[name] or "").strip() for name in OPTIONAL_COLUMNS if name in raw})
        _parse_line(parsed, line, values)
    return parsed


def _parse_line(parsed: ParsedRoster, line: int, v: dict[str, str]) -> None:
    # Lengths first: a value longer than its column is reported by name and never quoted, and
    # the line's other checks (which quote values) are skipped.
    too_long = [
        f"{name} lebih dari {ROSTER_FIELD_MAX[name]} karakter ({len(value)} karakter)"
        for name, value in v.items() if len(value) > ROSTER_FIELD_MAX[name]
    ]
    if too_long:
        nip = _shown(v["nip"])
        if nip:
            parsed.nips_by_line[line] = nip
        for problem in too_long:
            parsed.add(line, nip, problem)
        return
    problems: list[str] = []
    nip = v["nip"]
    if nip:
        parsed.nips_by_line[line] = nip

    role = _canonical(v["role"], ROLES) if v["role"] else None
    if not v["role"]:
        problems.append("role wajib diisi")
    elif role is None:
        problems.append(f"role '{v['role']}' tidak dikenal (guru, kepala_sekolah, pengawas)")

    asn_status = _canonical(v["asn_status"], ASN_STATUSES) if v["asn_status"] else None
    if not v["asn_status"]:
        problems.append("asn_status wajib diisi")
    elif asn_status is None:
        problems.append(f"asn_status '{v['asn_status']}' tidak dikenal (PNS, PPPK, NON_ASN)")

    if not nip:
        problems.append("nip wajib diisi")
    elif problem := nip_problem(nip, pppk=asn_status == "PPPK"):
        problems.append(problem)

    if not v["name"]:
        problems.append("name wajib diisi")

    if not v["region_code"]:
        problems.append("region_code wajib diisi")
    elif problem := region_problem(v["region_code"]):
        problems.append(problem)

    jenjang = _canonical(v["jenjang"], JENJANG) if v["jenjang"] else ""
    if v["jenjang"] and jenjang is None:
        problems.append(f"jenjang '{v['jenjang']}' tidak dikenal ({', '.join(JENJANG)})")
    elif not v["jenjang"] and asn_status in ("PNS", "PPPK"):
        # The jenjang sets the angka kredit coefficient of an ASN teacher.
        problems.append("jenjang wajib diisi untuk ASN")

    assessor = v["assessor_nip"] or None
    if v["npsn"] and (problem := npsn_problem(v["npsn"])):
        problems.append(problem)
    if role in SCHOOL_ROLES:
        if not v["npsn"]:
            problems.append("npsn wajib diisi untuk guru dan kepala sekolah")
        # school_name may be left empty for a school already registered (checked in check_roster).
        if not assessor:
            problems.append("assessor_nip wajib diisi untuk guru dan kepala sekolah")
    elif role == "pengawas":
        if v["npsn"] or v["school_name"]:
            problems.append("pengawas tidak terikat pada satu sekolah: npsn dan school_name harus kosong")
        if assessor:
            problems.append("assessor_nip pengawas harus kosong")
    if assessor:
        if problem := nip_problem(assessor, pppk=True):
            problems.append(f"assessor_nip: {problem}")
        elif assessor == nip:
            problems.append("assessor_nip tidak boleh sama dengan nip (menilai diri sendiri)")

    dapodik = _parse_dapodik(v, role, problems)

    if problems:
        for problem in problems:
            parsed.add(line, nip, problem)
        return
    parsed.rows.append(
        RosterRow(
            line=line, npsn=v["npsn"] or None, school_name=v["school_name"],
            region_code=v["region_code"], nip=nip, name=v["name"], role=role or "",
            jabatan=v["jabatan"], jenjang=jenjang or "", golongan=v["golongan"],
            asn_status=asn_status or "", assessor_nip=assessor, **dapodik,
        )
    )


def _parse_dapodik(v: dict[str, str], role: str | None, problems: list[str]) -> dict[str, str | None]:
    """The optional Dapodik columns of one line: canonical values, None for an absent column."""
    out: dict[str, str | None] = dict.fromkeys(OPTIONAL_COLUMNS)
    if (value := v.get("school_jenjang")) is not None:
        out["school_jenjang"] = _canonical(value, SCHOOL_JENJANG) if value else ""
        if out["school_jenjang"] is None:
            problems.append(f"school_jenjang '{value}' tidak dikenal ({', '.join(SCHOOL_JENJANG)})")
    if (value := v.get("school_status")) is not None:
        out["school_status"] = _canonical(value, SCHOOL_STATUSES) if value else ""
        if out["school_status"] is None:
            problems.append(f"school_status '{value}' tidak dikenal (Negeri, Swasta)")
    if role == "pengawas" and (out["school_jenjang"] or out["school_status"]):
        problems.append("pengawas tidak terikat pada satu sekolah: school_jenjang dan school_status harus kosong")
    if (value := v.get("province_code")) is not None:
        out["province_code"] = value
        if value and (problem := region_problem(value)):
            problems.append(f"province_code: {problem}")
        elif value and not region_problem(v["region_code"]) and value != province_of(v["region_code"]):
            problems.append(
                f"province_code {value} tidak sesuai dengan region_code {v['region_code']} "
                f"(provinsinya {province_of(v['region_code'])})"
            )
    if (value := v.get("nuptk")) is not None:
        out["nuptk"] = value
        if value and (problem := nuptk_problem(value)):
            problems.append(problem)
    if (value := v.get("nik")) is not None:
        out["nik"] = value
        if value and (problem := nik_problem(value)):
            problems.append(problem)
    if (value := v.get("jenis_ptk")) is not None:
        out["jenis_ptk"] = canonical_jenis_ptk(value) if value else ""
        if out["jenis_ptk"] is None:
            problems.append(f"jenis_ptk '{value}' tidak dikenal ({', '.join(JENIS_PTK)})")
    return out


@dataclass(frozen=True)
class Placement:
    """Where a stored person is now: their school (none for a pengawas) and district."""

    npsn: str | None
    region_code: str


def check_scope(
    rows: Iterable[RosterRow], *, may: Callable[[str | None, str | None], bool],
    schools: Mapping[str, str], people: Mapping[str, Placement],
) -> list[dict]:
    """The lines an importer may not write. ``may(npsn, region)``: whether the importer's scope
    covers that school (or, for a pengawas, that district). A line is out of scope when its
    school is (as the file places it, or as stored in ``schools``: NPSN -> region code), or when
    it moves a person who is now at another school or district (``people``: NIP -> placement,
    people on a roster only) outside it: moving someone between schools needs a scope covering
    both. Returns the report of every such line (empty when the importer may write them all)."""
    report: list[dict] = []
    for row in rows:
        problems: list[str] = []
        if not may(row.npsn, row.region_code):
            problems.append(
                f"sekolah NPSN {row.npsn} (kode wilayah {row.region_code}) di luar cakupan Anda" if row.npsn
                else f"pengawas kode wilayah {row.region_code} di luar cakupan Anda"
            )
        stored_region = schools.get(row.npsn) if row.npsn else None
        if stored_region is not None and stored_region != row.region_code and not may(row.npsn, stored_region):
            problems.append(f"sekolah NPSN {row.npsn} terdaftar di kode wilayah {stored_region}, di luar cakupan Anda")
        now = people.get(row.nip)
        if now is not None and (now.npsn, now.region_code) != (row.npsn, row.region_code) and not may(now.npsn, now.region_code):
            where = f"sekolah NPSN {now.npsn}" if now.npsn else f"kode wilayah {now.region_code} (pengawas)"
            problems.append(
                f"NIP ini sekarang terdaftar di {where}, di luar cakupan Anda: memindahkannya ke sekolah lain "
                "dilakukan oleh dinas yang mencakup kedua sekolah"
            )
        if problems:
            report.append(LineProblems(row.line, row.nip, problems).as_dict())
    return report


def check_roster(
    parsed: ParsedRoster, known: Mapping[str, KnownPerson], *,
    known_schools: Mapping[str, str] | None = None,
) -> list[dict]:
    """Check the lines against each other and against ``known`` (people already stored) and
    ``known_schools`` (NPSN -> region code of schools already stored). Who may write which
    line is :func:`check_scope`'s.
    Returns the report of every bad line (empty when the file can be imported)."""
    first_line_of: dict[str, int] = {}
    for line in sorted(parsed.nips_by_line):
        nip = parsed.nips_by_line[line]
        if nip in first_line_of:
            parsed.add(line, nip, f"NIP ganda: sudah ada di baris {first_line_of[nip]}")
        else:
            first_line_of[nip] = line

    school_first: dict[str, RosterRow] = {}
    listed: dict[str, RosterRow] = {}
    for row in parsed.rows:
        if first_line_of[row.nip] != row.line:
            continue  # a duplicate, reported above
        listed[row.nip] = row
        if row.npsn and row.school_name:
            first = school_first.setdefault(row.npsn, row)
            if first.school_conflict(row):
                parsed.add(
                    row.line, row.nip,
                    f"data sekolah NPSN {row.npsn} (nama, kode wilayah, jenjang, status) berbeda dengan baris {first.line}",
                )
    known_schools = known_schools or {}
    for row in parsed.rows:
        if not row.npsn or row.school_name or listed.get(row.nip) is not row:
            continue
        # A line without school_name points at a school: it must exist, in the file or stored.
        named = school_first.get(row.npsn)
        region = named.region_code if named else known_schools.get(row.npsn)
        if region is None:
            parsed.add(
                row.line, row.nip,
                f"sekolah NPSN {row.npsn} tidak ada: belum terdaftar dan tidak ada baris yang memuat school_name-nya",
            )
        elif region != row.region_code:
            parsed.add(row.line, row.nip, f"region_code berbeda dengan kode wilayah sekolah NPSN {row.npsn} ({region})")

    for row in parsed.rows:
        if not row.assessor_nip or listed.get(row.nip) is not row:
            continue
        if row.assessor_nip in first_line_of and row.assessor_nip not in listed:
            continue  # the assessor's own line is bad and already reported
        in_file = listed.get(row.assessor_nip)
        assessor = (
            KnownPerson(in_file.nip, in_file.role, in_file.npsn) if in_file else known.get(row.assessor_nip)
        )
        if assessor is None:
            parsed.add(
                row.line, row.nip,
                f"assessor_nip {row.assessor_nip} tidak ada di berkas maupun di data yang sudah diimpor",
            )
        elif assessor.leaving:
            parsed.add(
                row.line, row.nip,
                f"assessor_nip {row.assessor_nip} tidak ada di berkas, yang memuat seluruh roster sekolah "
                f"NPSN {assessor.npsn}: penilai ini keluar dari sekolah itu",
            )
        elif row.role == "guru" and (assessor.role != "kepala_sekolah" or assessor.npsn != row.npsn):
            parsed.add(
                row.line, row.nip,
                f"penilai guru ({row.assessor_nip}) harus kepala sekolah dari sekolah yang sama",
            )
        elif row.role == "kepala_sekolah" and assessor.role != "pengawas":
            parsed.add(
                row.line, row.nip, f"penilai kepala sekolah ({row.assessor_nip}) harus pengawas sekolah"
            )
    return parsed.report()
