"""Recaps for a school, a district and a province from the service's own read model: counts per
predikat and per jenjang, completion against the assessment deadline. Aggregated in the
database (GROUP BY on indexed columns), paginated by the unit below the level asked for
(schools of a district, districts of a province). Also a person's angka kredit and annual
predikat."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from kinerja_shared import access
from kinerja_shared.access_rules import assessment as actions
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock, batas_waktu, end_of_day, jakarta_date
from kinerja_shared.errors import AppError, NotFound
from kinerja_shared.uow import UnitOfWorkFactory
from sqlalchemy import case, func
from sqlmodel import select

from kinerja_assessment.adapters.tables import Assessment, PeriodView, RosterPerson
from kinerja_assessment.domain import angka_kredit as ak
from kinerja_assessment.domain.annual import annual_predikat
from kinerja_assessment.domain.policy import policy_for
from kinerja_assessment.domain.predikat import Predikat
from kinerja_assessment.service_layer.assessments import school_region, window_of
from kinerja_assessment.service_layer.reviews import reviews_of

LEVELS = ("school", "district", "province")


async def _recap_resource(uow, level: str, code: str) -> access.Resource:
    """A school's recap lives in its school and district; a district's in that district; a
    province's in the province (code ``xx0000``), which only a province-wide claim covers."""
    if level == "school":
        return access.Resource(npsn=code, region=await school_region(uow, code))
    if level == "district":
        return access.Resource(region=code)
    return access.Resource(region=code[:2] + "0000")


def _blank() -> dict:
    return {"total": 0, "final": 0, "open": 0, "final_on_time": 0, "final_late": 0,
            "per_predikat": {p.value: 0 for p in Predikat}, "per_jenjang": {}}


async def recap(
    uow_factory: UnitOfWorkFactory, principal: Principal, clock: Clock, *, period_id: str, level: str, code: str,
    limit: int = 100, offset: int = 0,
) -> dict:
    if level not in LEVELS:
        raise AppError("tingkat_rekap_tidak_valid", "Tingkat rekap harus school, district atau province.",
                       "level must be school, district or province.", status_code=422)
    access.require_action(principal, actions.RECAP_READ)
    async with uow_factory() as uow:
        access.require(principal, actions.RECAP_READ, await _recap_resource(uow, level, code))
        period = await uow.session.get(PeriodView, period_id)
        if period is None:
            raise NotFound("periode_tidak_ditemukan", "Periode tidak ditemukan.", "Period not found.")
        deadline = window_of(period).ends_on
        deadline_ts = end_of_day(deadline)
        if level == "school":
            scope, unit = Assessment.school_npsn == code, Assessment.school_npsn
        elif level == "district":
            scope, unit = Assessment.region == code, Assessment.school_npsn
        else:
            scope, unit = Assessment.region.startswith(code[:2]), Assessment.region
        base = (Assessment.period_id == period_id, scope)
        on_time = func.sum(case((Assessment.finalized_at <= deadline_ts, 1), else_=0))
        columns = (unit, Assessment.status, Assessment.predikat, Assessment.jenjang, func.count(), on_time)
        groups = (unit, Assessment.status, Assessment.predikat, Assessment.jenjang)
        by_unit: dict[str, dict] = defaultdict(_blank)
        totals = _blank()
        if level != "district":
            # A school or a province's districts: few units, so one scan grouped by unit gives
            # every row and the totals; the page is cut from the sorted units.
            rows = (await uow.session.exec(select(*columns).where(*base).group_by(*groups))).all()
            units = sorted({r[0] for r in rows})
            total_units, page = len(units), units[offset:offset + limit]
            for key, status, predikat, jenjang, n, n_on_time in rows:
                _add(totals, status, predikat, jenjang, n, n_on_time or 0)
                if key in page:
                    _add(by_unit[key], status, predikat, jenjang, n, n_on_time or 0)
        else:
            # A district's schools (hundreds to thousands): page the schools in the database,
            # aggregate only the page, and the district's totals in a second grouped query.
            units_q = select(unit).where(*base).group_by(unit).order_by(unit)
            total_units = (await uow.session.exec(select(func.count()).select_from(units_q.subquery()))).one()
            page = list((await uow.session.exec(units_q.offset(offset).limit(limit))).all())
            rows = (await uow.session.exec(
                select(*columns).where(*base, unit.in_(page)).group_by(*groups))).all() if page else []
            for key, status, predikat, jenjang, n, n_on_time in rows:
                _add(by_unit[key], status, predikat, jenjang, n, n_on_time or 0)
            totals_rows = (await uow.session.exec(
                select(*columns[1:]).where(*base).group_by(*groups[1:]))).all()
            for status, predikat, jenjang, n, n_on_time in totals_rows:
                _add(totals, status, predikat, jenjang, n, n_on_time or 0)
        today = jakarta_date(clock.now())
        return {
            "period_id": period_id, "level": level, "code": code,
            "deadline": deadline.isoformat(), "deadline_label": batas_waktu(deadline),
            "deadline_passed": today > deadline,
            "totals": _finish(totals, today > deadline),
            "units": [{"unit": u, **_finish(by_unit[u], today > deadline)} for u in page],
            "unit_kind": "school" if level != "province" else "district",
            "total_units": total_units, "limit": limit, "offset": offset,
        }


def _add(bucket: dict, status: str, predikat: str | None, jenjang: str, n: int, n_on_time: int) -> None:
    bucket["total"] += n
    if status == "final":
        bucket["final"] += n
        bucket["final_on_time"] += n_on_time
        bucket["final_late"] += n - n_on_time
        if predikat:
            bucket["per_predikat"][predikat] = bucket["per_predikat"].get(predikat, 0) + n
    else:
        bucket["open"] += n
    key = jenjang or "TIDAK_DIKETAHUI"
    bucket["per_jenjang"][key] = bucket["per_jenjang"].get(key, 0) + n


def _finish(bucket: dict, passed: bool) -> dict:
    total = bucket["total"]
    bucket["completion_percent"] = str((Decimal(bucket["final"]) * 100 / total).quantize(Decimal("0.1"))) if total else "0.0"
    bucket["overdue"] = bucket["open"] if passed else 0
    return bucket


async def _person_checks(uow, principal: Principal, action: str, nip: str) -> RosterPerson:
    access.require_action(principal, action)
    person = await uow.session.get(RosterPerson, nip)
    if person is None:
        raise NotFound("pegawai_tidak_ditemukan", "Pegawai tidak ditemukan.", "Person not found.")
    access.require(principal, action, access.Resource(
        npsn=person.school_npsn, region=person.region, owner_nip=person.nip, assessor_nip=person.assessor_nip))
    return person


async def _final_rows(uow, nip: str):
    return (await uow.session.exec(
        select(Assessment, PeriodView).join(PeriodView, PeriodView.period_id == Assessment.period_id)
        .where(Assessment.teacher_nip == nip, Assessment.status == "final")
        .order_by(PeriodView.year, PeriodView.month_start)
    )).all()


async def angka_kredit(uow_factory: UnitOfWorkFactory, principal: Principal, nip: str) -> dict:
    async with uow_factory() as uow:
        person = await _person_checks(uow, principal, actions.ANGKA_KREDIT_READ, nip)
        rows = await _final_rows(uow, nip)
        periods = [{
            "period_id": p.period_id, "name": p.name, "year": p.year, "months": ak.months_of(p.month_start, p.month_end),
            "assessment_id": a.assessment_id, "version": a.version, "predikat": a.predikat,
            "angka_kredit": str(a.angka_kredit) if a.angka_kredit is not None else None,
        } for a, p in rows]
        jenjang = ak.jenjang_of(person.jenjang)
        values = [a.angka_kredit for a, _ in rows if a.angka_kredit is not None]
        return {
            "nip": nip, "name": person.name, "jenjang": person.jenjang, "periods": periods,
            "progress": ak.progress(jenjang, values).as_dict() if jenjang else None,
            "note": "Dihitung dari penilaian final yang tercatat di layanan ini (versi terakhir).",
        }


async def annual(uow_factory: UnitOfWorkFactory, principal: Principal, nip: str, year: int) -> dict:
    async with uow_factory() as uow:
        await _person_checks(uow, principal, actions.ANNUAL_READ, nip)
        rows = [(a, p) for a, p in await _final_rows(uow, nip) if p.year == year]
        by_semester = {p.semester: Predikat(a.predikat) for a, p in rows if a.predikat}
        policy = policy_for(rows[-1][1].policy if rows else None)
        result = annual_predikat(policy.annual_rule, by_semester)
        return {
            "nip": nip, "year": year, "policy": policy.code, "rule": policy.annual_rule,
            "periods": [{"period_id": p.period_id, "semester": p.semester, "predikat": a.predikat,
                         "version": a.version, "periodic_reviews": await reviews_of(uow, a.assessment_id)}
                        for a, p in rows],
            "annual_predikat": result.value if result else None,
            "annual_predikat_label": result.label if result else None,
            "annual_predikat_code": result.siasn_code if result else None,
        }
