"""What the Dinas sets: a deadline extension for a period (all schools or one), and an
organisation's own predikat for the distribution check. Each is an event."""

from __future__ import annotations

from datetime import date

from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock, jakarta_date
from kinerja_shared.errors import AppError, Forbidden, NotFound
from kinerja_shared.events.contracts import AssessmentDeadlineExtended, OrganisationPredikatSet
from kinerja_shared.uow import UnitOfWorkFactory
from sqlmodel import select

from kinerja_assessment.adapters.tables import Extension, OrganisationPredikat, PeriodView, RosterPerson
from kinerja_assessment.domain import windows
from kinerja_assessment.domain.corrections import require_reason
from kinerja_assessment.domain.distribution import ORGANISATION_PREDIKAT
from kinerja_assessment.service_layer.assessments import window_of

DINAS = ("dinas", "operator_dinas")


def _ensure_dinas(principal: Principal) -> None:
    if principal.role not in DINAS:
        raise Forbidden("hanya_dinas", "Hanya Dinas Pendidikan yang dapat melakukan ini.", "Dinas only.")


async def _period(uow, period_id: str) -> PeriodView:
    period = await uow.session.get(PeriodView, period_id)
    if period is None:
        raise NotFound("periode_tidak_ditemukan", "Periode tidak ditemukan.", "Period not found.")
    return period


async def _school_region(uow, npsn: str) -> str:
    person = (await uow.session.exec(select(RosterPerson).where(RosterPerson.school_npsn == npsn))).first()
    if person is None:
        raise NotFound("sekolah_tidak_ditemukan", "Sekolah tidak ditemukan di roster.", "School not in the roster.")
    return person.region


def _region_of(principal: Principal) -> str:
    return principal.region or "000000"


async def extend_deadline(
    uow_factory: UnitOfWorkFactory, principal: Principal, period_id: str, clock: Clock, *,
    until: object, reason: object, npsn: str | None = None,
) -> dict:
    _ensure_dinas(principal)
    text = require_reason(reason)
    try:
        day = date.fromisoformat(str(until))
    except ValueError:
        raise AppError("perpanjangan_tidak_valid", "Tanggal perpanjangan harus berformat YYYY-MM-DD.",
                       "until must be YYYY-MM-DD.", status_code=422) from None
    async with uow_factory() as uow:
        period = await _period(uow, period_id)
        now = clock.now()
        windows.ensure_valid_extension(window_of(period), day, jakarta_date(now))
        region = await _school_region(uow, npsn) if npsn else _region_of(principal)
        row = await uow.session.get(Extension, (period_id, npsn or "")) or Extension(
            period_id=period_id, npsn=npsn or "", until=day, reason=text, granted_by=principal.sub)
        row.until, row.reason, row.granted_by, row.granted_at = day, text, principal.nip or principal.sub, now
        uow.session.add(row)
        uow.publish(AssessmentDeadlineExtended(period_id=period_id, npsn=npsn, until=day, reason=text,
                                               granted_by=row.granted_by, granted_at=now), region=region)
        await uow.commit()
        return {"period_id": period_id, "npsn": npsn, "until": day.isoformat(), "reason": text}


async def set_organisation_predikat(
    uow_factory: UnitOfWorkFactory, principal: Principal, npsn: str, clock: Clock, *,
    period_id: object, predikat: object,
) -> dict:
    _ensure_dinas(principal)
    if predikat not in ORGANISATION_PREDIKAT:
        raise AppError("predikat_organisasi_tidak_valid",
                       f"Predikat organisasi harus salah satu dari {', '.join(ORGANISATION_PREDIKAT)}.",
                       "Unknown organisation predikat.", status_code=422)
    async with uow_factory() as uow:
        await _period(uow, str(period_id))
        region = await _school_region(uow, npsn)
        now = clock.now()
        row = await uow.session.get(OrganisationPredikat, (period_id, npsn)) or OrganisationPredikat(
            period_id=str(period_id), npsn=npsn, predikat=str(predikat), set_by=principal.sub)
        row.predikat, row.set_by, row.set_at = str(predikat), principal.nip or principal.sub, now
        uow.session.add(row)
        uow.publish(OrganisationPredikatSet(period_id=str(period_id), npsn=npsn, predikat=predikat,
                                            set_by=row.set_by, set_at=now), region=region)
        await uow.commit()
        return {"period_id": period_id, "npsn": npsn, "predikat": predikat}
