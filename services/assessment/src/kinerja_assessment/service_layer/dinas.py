"""What the Dinas sets, in its own region: a deadline extension for a period (one school, or
every school the Dinas covers), and an organisation's own predikat for the distribution check.
Each is an event."""

from __future__ import annotations

from datetime import date

from kinerja_shared import access
from kinerja_shared.access_rules import assessment as actions
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock, jakarta_date
from kinerja_shared.errors import AppError, NotFound
from kinerja_shared.events.contracts import AssessmentDeadlineExtended, OrganisationPredikatSet
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_assessment.adapters.tables import Extension, OrganisationPredikat, PeriodView
from kinerja_assessment.domain import windows
from kinerja_assessment.domain.corrections import require_reason
from kinerja_assessment.domain.distribution import ORGANISATION_PREDIKAT
from kinerja_assessment.service_layer.assessments import school_region, window_of


async def _period(uow, period_id: str) -> PeriodView:
    period = await uow.session.get(PeriodView, period_id)
    if period is None:
        raise NotFound("periode_tidak_ditemukan", "Periode tidak ditemukan.", "Period not found.")
    return period


async def _school(uow, principal: Principal, action: str, npsn: str) -> str:
    """The school's district, once the caller may act on it."""
    region = await school_region(uow, npsn)
    if region is None:
        raise NotFound("sekolah_tidak_ditemukan", "Sekolah tidak ditemukan di roster.", "School not in the roster.")
    access.require(principal, action, access.Resource(npsn=npsn, region=region))
    return region


async def extend_deadline(
    uow_factory: UnitOfWorkFactory, principal: Principal, period_id: str, clock: Clock, *,
    until: object, reason: object, npsn: str | None = None,
) -> dict:
    access.require_action(principal, actions.DEADLINE_EXTEND)
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
        # One school: in the caller's region. Every school: every school the caller covers
        # (its claim is the extension's region), never the whole country.
        region = await _school(uow, principal, actions.DEADLINE_EXTEND, npsn) if npsn else str(principal.region)
        row = await uow.session.get(Extension, (period_id, npsn or "", region)) or Extension(
            period_id=period_id, npsn=npsn or "", region=region, until=day, reason=text, granted_by=principal.sub)
        row.until, row.reason, row.granted_by, row.granted_at = day, text, principal.nip or principal.sub, now
        uow.session.add(row)
        uow.publish(AssessmentDeadlineExtended(period_id=period_id, npsn=npsn, until=day, reason=text,
                                               granted_by=row.granted_by, granted_at=now), region=region)
        await uow.commit()
        return {"period_id": period_id, "npsn": npsn, "region": region, "until": day.isoformat(), "reason": text}


async def set_organisation_predikat(
    uow_factory: UnitOfWorkFactory, principal: Principal, npsn: str, clock: Clock, *,
    period_id: object, predikat: object,
) -> dict:
    access.require_action(principal, actions.ORGANISATION_PREDIKAT_SET)
    if predikat not in ORGANISATION_PREDIKAT:
        raise AppError("predikat_organisasi_tidak_valid",
                       f"Predikat organisasi harus salah satu dari {', '.join(ORGANISATION_PREDIKAT)}.",
                       "Unknown organisation predikat.", status_code=422)
    async with uow_factory() as uow:
        await _period(uow, str(period_id))
        region = await _school(uow, principal, actions.ORGANISATION_PREDIKAT_SET, npsn)
        now = clock.now()
        row = await uow.session.get(OrganisationPredikat, (period_id, npsn)) or OrganisationPredikat(
            period_id=str(period_id), npsn=npsn, predikat=str(predikat), set_by=principal.sub)
        row.predikat, row.set_by, row.set_at = str(predikat), principal.nip or principal.sub, now
        uow.session.add(row)
        uow.publish(OrganisationPredikatSet(period_id=str(period_id), npsn=npsn, predikat=predikat,
                                            set_by=row.set_by, set_at=now), region=region)
        await uow.commit()
        return {"period_id": period_id, "npsn": npsn, "predikat": predikat}
