"""Roster use cases: import a roster file, list a school's people."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kinerja_shared.auth import Principal
from kinerja_shared.errors import AppError, Conflict, Forbidden, NotFound
from kinerja_shared.events import PersonRef, RosterImported, SchoolRef
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.adapters.tables import Person, RosterImport, School
from kinerja_planning.domain.roster import KnownPerson, RosterRow, check_roster, parse_roster

IMPORT_ROLES = ("dinas", "operator_dinas", "operator_sekolah")
_CHUNK = 1000  # keeps IN lists far below PostgreSQL's parameter limit


@dataclass(frozen=True)
class ImportResult:
    import_id: str
    schools: int
    people: int
    # What the file changed against what was stored: only these are published.
    added: int = 0
    changed: int = 0
    moved: int = 0
    unchanged: int = 0
    published_schools: int = 0


@dataclass
class _Changes:
    added: int = 0
    changed: int = 0
    moved: int = 0
    unchanged: int = 0
    schools: set[str] = field(default_factory=set)  # NPSNs whose published roster changed
    pengawas: set[str] = field(default_factory=set)  # changed pengawas: their KS's schools change too


def _chunks(items: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(items))
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


async def _people_by_nip(session: AsyncSession, nips: Iterable[str]) -> dict[str, Person]:
    found: dict[str, Person] = {}
    for chunk in _chunks(nips):
        rows = (await session.exec(select(Person).where(col(Person.nip).in_(chunk)))).all()
        found.update({p.nip: p for p in rows})
    return found


async def import_roster(uow_factory: UnitOfWorkFactory, principal: Principal, data: bytes) -> ImportResult:
    """Validate the whole file; import nothing unless every line is good. Then upsert the
    schools and people and publish one RosterImported per school it touched."""
    principal.require_role(*IMPORT_ROLES)
    only_npsn = None
    if principal.role == "operator_sekolah":
        if not principal.npsn:
            raise Forbidden(
                "sekolah_tidak_diketahui",
                "Token operator sekolah tidak memuat NPSN sekolahnya.",
                "The operator_sekolah token carries no npsn.",
            )
        only_npsn = principal.npsn

    parsed = parse_roster(data)
    async with uow_factory() as uow:
        session = uow.session
        known = {
            p.nip: KnownPerson(p.nip, p.role, p.npsn)
            for p in (await _people_by_nip(session, parsed.outside_assessor_nips())).values()
        }
        known_schools: dict[str, str] = {}
        for chunk in _chunks(parsed.unnamed_school_npsns()):
            found = (await session.exec(select(School).where(col(School.npsn).in_(chunk)))).all()
            known_schools.update({school.npsn: school.region_code for school in found})
        report = check_roster(parsed, known, only_npsn=only_npsn, known_schools=known_schools)
        if report:
            raise AppError(
                "roster_tidak_valid",
                f"Roster tidak diimpor: {len(report)} baris bermasalah. Perbaiki semua baris lalu unggah ulang.",
                f"Roster not imported: {len(report)} bad line(s). Fix them all and upload again.",
                status_code=422,
                details=report,
            )
        now = datetime.now(timezone.utc)
        changes = await _upsert(session, parsed.rows, now)
        await session.flush()

        school_npsns = set(changes.schools)
        # A changed pengawas also changes the roster of every school whose kepala sekolah they assess.
        for chunk in _chunks(changes.pengawas):
            assessed = await session.exec(
                select(Person.npsn).where(
                    col(Person.assessor_nip).in_(chunk), Person.role == "kepala_sekolah"
                )
            )
            school_npsns.update(n for n in assessed.all() if n)

        import_id = str(uuid.uuid4())
        for npsn in sorted(school_npsns):
            await _publish_school_roster(uow, import_id, npsn)
        session.add(
            RosterImport(
                import_id=import_id, imported_by=principal.sub, imported_by_role=principal.role,
                schools=len({r.npsn for r in parsed.rows if r.npsn}), people=len(parsed.rows),
                imported_at=now,
            )
        )
        try:
            await uow.commit()
        except IntegrityError as exc:  # another import inserted the same people meanwhile
            raise Conflict(
                "impor_bersamaan",
                "Roster yang sama sedang diimpor bersamaan; coba lagi.",
                "A concurrent import touched the same people; try again.",
            ) from exc
    return ImportResult(
        import_id, len({r.npsn for r in parsed.rows if r.npsn}), len(parsed.rows),
        added=changes.added, changed=changes.changed, moved=changes.moved,
        unchanged=changes.unchanged, published_schools=len(school_npsns),
    )


# The fields of a person the file sets; equal values mean the line changes nothing.
_PERSON_FIELDS = ("name", "role", "jabatan", "jenjang", "golongan", "asn_status", "npsn", "region_code", "assessor_nip")


def _row_values(row: RosterRow) -> dict[str, str | None]:
    return {
        "name": row.name, "role": row.role, "jabatan": row.jabatan, "jenjang": row.jenjang,
        "golongan": row.golongan, "asn_status": row.asn_status, "npsn": row.npsn,
        "region_code": row.region_code, "assessor_nip": row.assessor_nip,
    }


async def _upsert(session: AsyncSession, rows: list[RosterRow], now: datetime) -> _Changes:
    """Write only what differs from the stored roster and say which schools that touched, so a
    re-import of the same file writes and publishes nothing."""
    changes = _Changes()
    # Lines without school_name refer to a school that exists (checked): they do not rename it.
    schools = {r.npsn: r for r in rows if r.npsn and r.school_name}
    existing_schools: dict[str, School] = {}
    for chunk in _chunks(schools):
        found = (await session.exec(select(School).where(col(School.npsn).in_(chunk)))).all()
        existing_schools.update({s.npsn: s for s in found})
    for npsn, row in schools.items():
        school = existing_schools.get(npsn)
        if school is not None and (school.name, school.region_code) == (row.school_name, row.region_code):
            continue
        school = school or School(npsn=npsn, name=row.school_name, region_code=row.region_code)
        school.name, school.region_code, school.updated_at = row.school_name, row.region_code, now
        session.add(school)
        changes.schools.add(npsn)

    existing = await _people_by_nip(session, (r.nip for r in rows))
    for row in rows:
        wanted = _row_values(row)
        person = existing.get(row.nip)
        if person is None:
            person = Person(nip=row.nip, **wanted)
            changes.added += 1
        elif all(getattr(person, f) == wanted[f] for f in _PERSON_FIELDS):
            changes.unchanged += 1
            continue
        else:
            if person.npsn != row.npsn:
                changes.moved += 1
                if person.npsn:
                    changes.schools.add(person.npsn)  # the old school loses them
            else:
                changes.changed += 1
            for name, value in wanted.items():
                setattr(person, name, value)
        person.updated_at = now
        session.add(person)
        if row.npsn:
            changes.schools.add(row.npsn)
        if row.role == "pengawas":
            changes.pengawas.add(row.nip)
    return changes


def _person_ref(p: Person) -> PersonRef:
    return PersonRef(
        nip=p.nip, name=p.name, role=p.role, jabatan=p.jabatan, jenjang=p.jenjang,
        golongan=p.golongan, asn_status=p.asn_status, assessor_nip=p.assessor_nip,
    )


def _ordered(people: Iterable[Person]) -> list[Person]:
    rank = {"kepala_sekolah": 0, "guru": 1, "pengawas": 2}
    return sorted(people, key=lambda p: (rank.get(p.role, 9), p.name, p.nip))


async def _publish_school_roster(uow, import_id: str, npsn: str) -> None:
    """The school's whole roster as now stored (not only the lines of this file), so a
    consumer's read model is complete after any import."""
    session = uow.session
    school = await session.get(School, npsn)
    people = (await session.exec(select(Person).where(Person.npsn == npsn))).all()
    assessor_nips = {p.assessor_nip for p in people if p.role == "kepala_sekolah" and p.assessor_nip}
    pengawas = [p for p in (await _people_by_nip(session, assessor_nips)).values() if p.npsn != npsn]
    uow.publish(
        RosterImported(
            import_id=import_id,
            school=SchoolRef(npsn=school.npsn, name=school.name, region=school.region_code),
            people=[_person_ref(p) for p in _ordered([*people, *pengawas])],
        ),
        region=school.region_code,
    )


async def school_people(uow_factory: UnitOfWorkFactory, principal: Principal, npsn: str) -> tuple[School, list[Person]]:
    own_school = principal.npsn == npsn and principal.role in ("kepala_sekolah", "operator_sekolah")
    if not (principal.is_dinas or own_school):
        raise Forbidden(
            "akses_ditolak",
            "Anda tidak berhak melihat daftar pegawai sekolah ini.",
            "You may not see this school's people.",
        )
    async with uow_factory() as uow:
        school = await uow.session.get(School, npsn)
        if school is None:
            raise NotFound(
                "sekolah_tidak_ditemukan",
                f"Sekolah dengan NPSN {npsn} tidak ditemukan.",
                f"No school with NPSN {npsn}.",
            )
        people = (await uow.session.exec(select(Person).where(Person.npsn == npsn))).all()
        uow.session.expunge_all()  # plain values for the caller after the unit of work ends
        return school, _ordered(people)
