"""Readiness report use cases: per school and per district."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kinerja_shared import access
from kinerja_shared.access import Resource
from kinerja_shared.access_rules.planning import DISTRICT_READINESS_READ, READINESS_READ
from kinerja_shared.auth import Principal
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.adapters.tables import Person, School
from kinerja_planning.domain.readiness import Assessor, by_actor, school_issues
from kinerja_planning.service_layer.roster import _chunks, _ordered, school_not_found, school_resource


async def _assessors(session: AsyncSession, people: Iterable[Person]) -> dict[str, Assessor]:
    nips = {p.assessor_nip for p in people if p.assessor_nip}
    found: dict[str, Assessor] = {}
    for chunk in _chunks(nips):
        rows = (await session.exec(select(Person.nip, Person.role, Person.npsn).where(col(Person.nip).in_(chunk)))).all()
        found.update({nip: Assessor(role, npsn) for nip, role, npsn in rows})
    return found


def _school_report(school: School, people: list[Person], assessors: dict[str, Assessor]) -> dict:
    issues = school_issues(school.region_code, _ordered(people), assessors, school.npsn)
    return {
        "npsn": school.npsn, "name": school.name, "region_code": school.region_code,
        "people": len(people), "ready": not issues, "by_actor": by_actor(issues),
        "issues": [i.as_dict() for i in issues],
    }


async def school_readiness(uow_factory: UnitOfWorkFactory, principal: Principal, npsn: str) -> dict:
    access.require_action(principal, READINESS_READ)
    async with uow_factory() as uow:
        school = await uow.session.get(School, npsn)
        if school is None:
            raise school_not_found(npsn)
        access.require(principal, READINESS_READ, school_resource(school))
        people = list((await uow.session.exec(select(Person).where(Person.npsn == npsn))).all())
        return _school_report(school, people, await _assessors(uow.session, people))


async def district_readiness(uow_factory: UnitOfWorkFactory, principal: Principal, region_code: str) -> dict:
    """Every school of the district (kode wilayah), its counts per actor; the issues themselves
    only for schools that are not ready, so the answer stays small for a ready district."""
    access.require(principal, DISTRICT_READINESS_READ, Resource(region=region_code))
    async with uow_factory() as uow:
        session = uow.session
        schools = list((await session.exec(select(School).where(School.region_code == region_code).order_by(School.npsn))).all())
        people_of: dict[str, list[Person]] = defaultdict(list)
        for chunk in _chunks(s.npsn for s in schools):
            for p in (await session.exec(select(Person).where(col(Person.npsn).in_(chunk)))).all():
                people_of[p.npsn].append(p)
        assessors = await _assessors(session, (p for people in people_of.values() for p in people))
        reports = [_school_report(s, people_of[s.npsn], assessors) for s in schools]
    totals = dict.fromkeys(("operator_sekolah", "operator_dinas", "bkd"), 0)
    for r in reports:
        for actor, n in r["by_actor"].items():
            totals[actor] += n
    return {
        "region_code": region_code, "schools": len(reports),
        "schools_ready": sum(r["ready"] for r in reports),
        "people": sum(r["people"] for r in reports), "by_actor": totals,
        "not_ready": [r for r in reports if not r["ready"]],
    }
