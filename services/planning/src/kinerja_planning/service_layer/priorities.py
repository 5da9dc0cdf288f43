"""Rapor Pendidikan priorities of a school, per period: the principal records the school's
indicator results and chooses the priorities its teachers' Praktik Kinerja draw from."""

from __future__ import annotations

from sqlmodel import select

from kinerja_shared import access
from kinerja_shared.access import Resource
from kinerja_shared.access_rules.planning import PRIORITIES_READ, PRIORITIES_SET
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock, SystemClock
from kinerja_shared.errors import NotFound
from kinerja_shared.events import SchoolPrioritiesSet
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.adapters.tables import Period, Person, School, SchoolPriorities
from kinerja_planning.domain.periods import CLOSED
from kinerja_planning.domain.plans import check_priorities
from kinerja_planning.domain.policy import rubric
from kinerja_planning.service_layer.periods import not_found as period_not_found
from kinerja_planning.service_layer.roster import school_resource
from kinerja_shared.errors import Conflict


def _school_not_found(npsn: str) -> NotFound:
    return NotFound("sekolah_tidak_ditemukan", f"Sekolah NPSN {npsn} tidak ditemukan.", f"No school {npsn}.")


async def set_priorities(
    uow_factory: UnitOfWorkFactory, principal: Principal, npsn: str, period_id: str,
    results: object, priorities: object, *, clock: Clock = SystemClock(),
) -> SchoolPriorities:
    access.require_action(principal, PRIORITIES_SET)
    clean, chosen = check_priorities(results, priorities, rubric())
    async with uow_factory() as uow:
        school = await uow.session.get(School, npsn)
        if school is None:
            raise _school_not_found(npsn)
        access.require(principal, PRIORITIES_SET, school_resource(school))
        period = await uow.session.get(Period, period_id)
        if period is None:
            raise period_not_found(period_id)
        if period.status == CLOSED:
            raise Conflict("periode_sudah_ditutup", "Periode sudah ditutup.", "The period is closed.")
        row = await uow.session.get(SchoolPriorities, (npsn, period_id))
        if row is None:
            row = SchoolPriorities(npsn=npsn, period_id=period_id, set_by=principal.nip or "")
        row.results, row.priorities = clean, chosen
        row.set_by, row.set_at = principal.nip or "", clock.now()
        uow.session.add(row)
        uow.publish(
            SchoolPrioritiesSet(npsn=npsn, period_id=period_id, results=clean, priorities=chosen,
                                set_by=row.set_by, set_at=row.set_at),
            region=school.region_code,
        )
        await uow.commit()
        uow.session.expunge(row)
        return row


async def get_priorities(uow_factory: UnitOfWorkFactory, principal: Principal, npsn: str,
                         period_id: str) -> SchoolPriorities:
    """Readable by the school's people (its guru choose from it), the pengawas who assesses its
    principal, and the Dinas of its region."""
    access.require_action(principal, PRIORITIES_READ)
    async with uow_factory() as uow:
        school = await uow.session.get(School, npsn)
        if school is None:
            raise _school_not_found(npsn)
        # The pengawas' relation to a school: they assess its (current) kepala sekolah.
        principal_assessor = (await uow.session.exec(select(Person.assessor_nip).where(
            Person.npsn == npsn, Person.role == "kepala_sekolah", Person.left_at.is_(None)  # type: ignore[union-attr]
        ))).first()
        resource = Resource(npsn=school.npsn, region=school.region_code, assessor_nip=principal_assessor)
        access.require(principal, PRIORITIES_READ, resource)
        row = await uow.session.get(SchoolPriorities, (npsn, period_id))
        if row is None:
            raise NotFound("prioritas_belum_ditetapkan",
                           "Prioritas Rapor Pendidikan sekolah ini belum ditetapkan untuk periode ini.",
                           "No priorities set for this school and period.")
        uow.session.expunge(row)
        return row


async def priorities_for(uow, npsn: str, period_id: str) -> frozenset[str]:
    row = (await uow.session.exec(
        select(SchoolPriorities.priorities).where(SchoolPriorities.npsn == npsn, SchoolPriorities.period_id == period_id)
    )).first()
    return frozenset(row or [])
