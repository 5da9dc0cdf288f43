"""What ekinerja-sync keeps of planning's facts: people and schools from RosterImported, periods
from PeriodOpened. An agreed plan (PlanApproved) names only NIPs and a period id; the SKP that
goes to e-Kinerja needs the teacher's and the assessor's names, jabatan, golongan and jenjang,
the unit and the period's months: they come from here.

A roster older than what a row holds is ignored (a replay of old rosters changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from kinerja_shared.events import Envelope, PeriodOpened, RosterImported
from kinerja_shared.uow import UnitOfWork

from kinerja_ekinerja_sync.adapters.tables import PeriodView, PersonView, SchoolView
from kinerja_ekinerja_sync.domain.mapping import PeriodInfo, RosterPerson


async def apply_roster(uow: UnitOfWork, event: RosterImported, envelope: Envelope) -> None:
    session = uow.session
    at = envelope.occurred_at
    school = await session.get(SchoolView, event.school.npsn)
    if school is None:
        session.add(SchoolView(npsn=event.school.npsn, name=event.school.name, region=event.school.region, roster_at=at))
    elif school.roster_at < at:
        school.name, school.region, school.roster_at = event.school.name, event.school.region, at
        session.add(school)
    known = {
        p.nip: p for p in (
            await session.exec(select(PersonView).where(col(PersonView.nip).in_([p.nip for p in event.people])))
        ).all()
    }
    for person in event.people:
        values = dict(name=person.name, role=person.role, jabatan=person.jabatan, jenjang=person.jenjang,
                      golongan=person.golongan, asn_status=person.asn_status, assessor_nip=person.assessor_nip,
                      roster_at=at)
        row = known.get(person.nip)
        if row is None:
            known[person.nip] = row = PersonView(nip=person.nip, **values)  # listed twice: one row
            session.add(row)
        elif row.roster_at <= at:
            for name, value in values.items():
                setattr(row, name, value)
            session.add(row)


async def apply_period(uow: UnitOfWork, event: PeriodOpened) -> None:
    row = await uow.session.get(PeriodView, event.period_id)
    values = dict(policy=event.policy, year=event.year, month_start=event.month_start, month_end=event.month_end)
    if row is None:
        uow.session.add(PeriodView(period_id=event.period_id, **values))
    else:  # the same period announced again: its months do not change, but take what it says
        for name, value in values.items():
            setattr(row, name, value)
        uow.session.add(row)


@dataclass(frozen=True)
class Known:
    """What the read models hold for one record: its period, the people, its unit."""

    period: PeriodInfo | None
    people: dict[str, RosterPerson]
    unit: str | None


async def known_for(session, *, nips: list[str], npsn: str, period_id: str | None = None) -> Known:
    rows = (await session.exec(select(PersonView).where(col(PersonView.nip).in_([n for n in nips if n])))).all()
    people = {
        p.nip: RosterPerson(p.nip, p.name, p.jabatan, p.jenjang, p.golongan, p.asn_status, p.assessor_nip)
        for p in rows
    }
    school = await session.get(SchoolView, npsn)
    period = await session.get(PeriodView, period_id) if period_id else None
    return Known(
        period=PeriodInfo(period.period_id, period.policy, period.year, period.month_start, period.month_end)
        if period is not None else None,
        people=people,
        # The school's name is the unit e-Kinerja knows (as the assessment service sends it for results).
        unit=school.name if school is not None else None,
    )
