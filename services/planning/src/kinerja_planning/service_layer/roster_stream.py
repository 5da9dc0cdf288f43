"""Province-sized roster import from a file (the command line), in bounded memory.

The HTTP import reads one school's file whole and is all-or-nothing in one transaction. A
province file (500,000 people) is streamed instead, three times:

1. encoding and index: the file is read in chunks to pick UTF-8 or Windows-1252, and every
   line's NIP is indexed (line number; role and NPSN for kepala sekolah and pengawas, the only
   people who assess) so duplicates and assessors anywhere in the file are found;
2. validation: lines are parsed again in batches and checked exactly as the HTTP import checks
   them. Any bad line: nothing is written and every bad line is reported;
3. writing: batch by batch, each in its own transaction, writing only what changed and
   publishing the RosterImported snapshot of each school that changed (a school split across
   two batches is published twice, the second snapshot complete);
4. with ``complete`` (the command line's default: a province export lists each of its schools
   whole), people stored at a school the file lists but absent from the file leave it, a
   thousand schools per transaction, each such school published again with ``left``.

Memory grows with the number of people only through the NIP index (an int per NIP), never
with rows held as objects.

The CSV is parsed once: pass 1 spills each parsed batch to an unnamed temporary file (pickle,
about 240 bytes a row) and passes 2 and 3 read the batches back, which costs a fifth of parsing
the line again (parsing and checking a line is most of the import's CPU).
"""

from __future__ import annotations

import codecs
import pickle
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from sqlmodel import select

from kinerja_shared import access
from kinerja_shared.access import Resource
from kinerja_shared.access_rules.planning import ROSTER_IMPORT
from kinerja_shared.auth import Principal
from kinerja_shared.errors import AppError
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.adapters.tables import RosterImport, School
from kinerja_planning.domain.roster import (
    SCHOOL_ROLES, KnownPerson, ParsedRoster, check_roster, iter_roster, school_keys_conflict,
)
from kinerja_planning.service_layer.roster import (
    _SCHOOLS, ImportResult, _assessed_schools, _chunks, _in, _known_outside, _mark_left,
    _publish_schools, _upsert, refuse,
)

Progress = Callable[[str, int, int], None]  # (phase, lines done, lines in the file)
_ASSESSOR_ROLES = ("kepala_sekolah", "pengawas")
MAX_REPORTED = 10_000  # a hopeless file still gets a bounded answer


def detect_encoding(path: Path, chunk: int = 1 << 20) -> str | None:
    """utf-8-sig if the whole file decodes as UTF-8, else cp1252; None for binary."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    utf8 = True
    with path.open("rb") as f:
        while data := f.read(chunk):
            if b"\x00" in data:
                return None
            if utf8:
                try:
                    decoder.decode(data)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        return "utf-8-sig"
    # Windows-1252 leaves five bytes undefined: only decoding the whole file proves it is text.
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    try:
        with path.open("rb") as f:
            while data := f.read(chunk):
                cp1252.decode(data)
    except UnicodeDecodeError:
        return None
    return "cp1252"


def _refuse(report: list[dict], total_bad: int) -> AppError:
    return refuse(report, total_bad)


async def import_roster_path(
    uow_factory: UnitOfWorkFactory, principal: Principal, path: Path, *,
    batch_size: int = 2000, progress: Progress | None = None, complete: bool = False,
) -> ImportResult:
    # An operator's tool over a whole province file: it needs a scope covering every school
    # (sistem). A narrower importer uses the HTTP import, which checks each line's scope.
    access.require(principal, ROSTER_IMPORT, Resource())
    encoding = detect_encoding(path)
    if encoding is None:
        raise _refuse([{"line": 1, "nip": "", "problems": [
            "berkas bukan teks CSV (encoding yang diterima: UTF-8, UTF-8 dengan BOM, Windows-1252)"
        ]}], 1)

    with tempfile.TemporaryFile(prefix="kinerja-roster-") as spill:
        return await _import_spilled(
            uow_factory, principal, path, encoding, _Spill(spill), batch_size=batch_size,
            progress=progress, complete=complete,
        )


class _Spill:
    """Parsed batches kept on disk between the passes (our own unnamed file, never shared)."""

    def __init__(self, file) -> None:
        self.file = file

    def add(self, parsed: ParsedRoster) -> None:
        pickle.dump(parsed, self.file, protocol=pickle.HIGHEST_PROTOCOL)

    def __iter__(self) -> Iterator[ParsedRoster]:
        self.file.flush()
        self.file.seek(0)
        while True:
            try:
                yield pickle.load(self.file)
            except EOFError:
                return


async def _import_spilled(
    uow_factory: UnitOfWorkFactory, principal: Principal, path: Path, encoding: str, spill: _Spill, *,
    batch_size: int, progress: Progress | None, complete: bool,
) -> ImportResult:
    def parse():
        with path.open("r", encoding=encoding, newline="") as f:
            yield from iter_roster(f, batch_size)

    # Pass 1: the NIP index, duplicates and school names across the whole file.
    first_line: dict[str, int] = {}
    assessors: dict[str, KnownPerson] = {}
    school_of: dict[str, tuple[tuple, int]] = {}  # npsn -> (school data, first line)
    listed_schools: set[str] = set()
    cross: dict[int, tuple[str, list[str]]] = {}
    total = 0
    for parsed in parse():
        if 1 in parsed.problems and not parsed.rows and not parsed.nips_by_line:
            raise _refuse(parsed.report(), 1)  # header or empty file
        spill.add(parsed)
        for line in sorted(parsed.nips_by_line):
            nip = parsed.nips_by_line[line]
            if nip in first_line:
                cross.setdefault(line, (nip, []))[1].append(f"NIP ganda: sudah ada di baris {first_line[nip]}")
            else:
                first_line[nip] = line
        for row in parsed.rows:
            total = max(total, row.line)
            if row.role in _ASSESSOR_ROLES and first_line[row.nip] == row.line:
                assessors[row.nip] = KnownPerson(row.nip, row.role, row.npsn)
            if row.npsn:
                listed_schools.add(row.npsn)
            if row.npsn and row.school_name:
                first = school_of.setdefault(row.npsn, (row.school_key(), row.line))
                if school_keys_conflict(first[0], row.school_key()):
                    cross.setdefault(row.line, (row.nip, []))[1].append(
                        f"data sekolah NPSN {row.npsn} (nama, kode wilayah, jenjang, status) berbeda dengan baris {first[1]}"
                    )
        if parsed.rows and progress:
            progress("indeks", parsed.rows[-1].line, 0)

    # Pass 2: every line checked as the HTTP import checks it; nothing written yet.
    report: dict[int, dict] = {}
    total_bad = 0
    async with uow_factory() as uow:
        for parsed in spill:
            known = await _known(uow.session, parsed, assessors, first_line, listed_schools if complete else set())
            known_schools = {n: school_of[n][0][1] for n in parsed.unnamed_school_npsns() if n in school_of}
            missing = parsed.unnamed_school_npsns() - set(known_schools)
            for chunk in _chunks(missing):
                found = (await uow.session.exec(select(School).where(await _in(uow.session, _SCHOOLS.c.npsn, chunk)))).all()
                known_schools.update({s.npsn: s.region_code for s in found})
            for line, (nip, problems) in list(cross.items()):
                if line in parsed.nips_by_line or any(r.line == line for r in parsed.rows):
                    for problem in problems:
                        parsed.add(line, nip, problem)
                    del cross[line]
            # Duplicates across batches are in `cross`; within a batch check_roster finds them.
            for entry in check_roster(parsed, known, known_schools=known_schools):
                total_bad += 1
                if len(report) < MAX_REPORTED:
                    report[entry["line"]] = entry
            if progress and parsed.rows:
                progress("periksa", parsed.rows[-1].line, total)
    if report:
        raise _refuse([report[line] for line in sorted(report)], total_bad)

    # Pass 3: write batch by batch, publishing only what changed.
    import_id = str(uuid.uuid4())
    counts = {"added": 0, "changed": 0, "moved": 0, "unchanged": 0, "published": 0, "left": 0}
    schools: set[str] = set()
    people = 0
    for parsed in spill:
        async with uow_factory() as uow:
            session = uow.session
            now = datetime.now(timezone.utc)
            changes = await _upsert(session, parsed.rows, now)
            touched = changes.schools | await _assessed_schools(session, changes.pengawas)
            await _publish_schools(uow, import_id, touched)
            await uow.commit()
        counts["added"] += changes.added
        counts["changed"] += changes.changed
        counts["moved"] += changes.moved
        counts["unchanged"] += changes.unchanged
        counts["published"] += len(touched)
        schools.update(r.npsn for r in parsed.rows if r.npsn and r.role in SCHOOL_ROLES)
        people += len(parsed.rows)
        if progress and parsed.rows:
            progress("tulis", parsed.rows[-1].line, total)
    if complete:
        # Pass 4: who left. The NIP index of pass 1 says who is in the file.
        done = 0
        for chunk in _chunks(listed_schools):
            async with uow_factory() as uow:
                left = await _mark_left(uow.session, chunk, first_line, datetime.now(timezone.utc))
                await _publish_schools(uow, import_id, left, left)
                await uow.commit()
            counts["left"] += sum(len(nips) for nips in left.values())
            counts["published"] += len(left)
            done += len(chunk)
            if progress:
                progress("keluar", done, len(listed_schools))
    async with uow_factory() as uow:
        uow.session.add(RosterImport(
            import_id=import_id, imported_by=principal.sub, imported_by_role=principal.role,
            schools=len(schools), people=people, imported_at=datetime.now(timezone.utc),
        ))
        await uow.commit()
    return ImportResult(
        import_id, len(schools), people, added=counts["added"], changed=counts["changed"],
        moved=counts["moved"], unchanged=counts["unchanged"], published_schools=counts["published"],
        left=counts["left"],
    )


async def _known(
    session, parsed: ParsedRoster, assessors: dict[str, KnownPerson], first_line: dict[str, int],
    complete_schools: set[str],
):
    """The assessors this batch names: from the file's index, else from the database."""
    named = {r.assessor_nip for r in parsed.rows if r.assessor_nip}
    known = {n: assessors[n] for n in named if n in assessors}
    outside = {n for n in named if n not in assessors and n not in first_line}
    known.update(await _known_outside(session, outside, complete_schools))
    # A NIP in the file that is not a kepala sekolah or pengawas: known with its role unknown,
    # so check_roster refuses it as an assessor instead of calling it missing.
    for n in named:
        if n not in known and n in first_line:
            known[n] = KnownPerson(n, "guru", None)
    return known
