"""Period use cases: create, open, close, read."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from kinerja_shared.auth import Principal
from kinerja_shared.errors import Conflict, NotFound
from kinerja_shared.events import PeriodOpened
from kinerja_shared.events.envelope import NO_REGION
from kinerja_shared.identifiers import region_problem
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.adapters.tables import Period
from kinerja_planning.domain.periods import (
    SCHEDULED,
    period_window,
    status_after_close,
    status_after_open,
)

MANAGE_ROLES = ("dinas", "operator_dinas")


def _already_exists(policy: str, year: int, semester: int | None) -> Conflict:
    return Conflict(
        "periode_sudah_ada",
        f"Periode {policy} {year} semester {semester} sudah ada.",
        f"Period {policy} {year} semester {semester} already exists.",
    )


def not_found(period_id: str) -> NotFound:
    return NotFound(
        "periode_tidak_ditemukan",
        f"Periode '{period_id}' tidak ditemukan.",
        f"No period '{period_id}'.",
    )


async def create_period(
    uow_factory: UnitOfWorkFactory, principal: Principal, policy: str, year: int, semester: int | None
) -> Period:
    principal.require_role(*MANAGE_ROLES)
    window = period_window(policy, year, semester)
    async with uow_factory() as uow:
        duplicate = (
            await uow.session.exec(
                select(Period).where(
                    Period.policy == window.policy, Period.year == window.year,
                    Period.semester == window.semester,
                )
            )
        ).first()
        if duplicate is not None:
            raise _already_exists(policy, year, semester)
        period = Period(
            period_id=str(uuid.uuid4()), policy=window.policy, year=window.year,
            semester=window.semester, name=window.name, starts_on=window.starts_on,
            ends_on=window.ends_on, month_start=window.month_start, month_end=window.month_end,
            status=SCHEDULED,
        )
        uow.session.add(period)
        try:
            await uow.commit()
        except IntegrityError as exc:  # created concurrently by someone else
            raise _already_exists(policy, year, semester) from exc
        return _detached(uow, period)


def _detached(uow, period: Period) -> Period:
    # Loaded values stay readable after the unit of work ends (its rollback expires attached rows).
    uow.session.expunge(period)
    return period


async def _load_for_update(uow, period_id: str) -> Period:
    period = (
        await uow.session.exec(select(Period).where(Period.period_id == period_id).with_for_update())
    ).first()
    if period is None:
        raise not_found(period_id)
    return period


async def open_period(uow_factory: UnitOfWorkFactory, principal: Principal, period_id: str) -> Period:
    principal.require_role(*MANAGE_ROLES)
    async with uow_factory() as uow:
        period = await _load_for_update(uow, period_id)
        period.status, changed = status_after_open(period.status)
        if changed:
            period.opened_at = datetime.now(timezone.utc)
            uow.session.add(period)
            # A province-wide period has no district: the caller's region if the token has one.
            region = principal.region if principal.region and not region_problem(principal.region) else NO_REGION
            uow.publish(
                PeriodOpened(
                    period_id=period.period_id, policy=period.policy, year=period.year,
                    semester=period.semester, name=period.name, starts_on=period.starts_on,
                    ends_on=period.ends_on, month_start=period.month_start,
                    month_end=period.month_end,
                ),
                region=region,
            )
            await uow.commit()
        return _detached(uow, period)


async def close_period(uow_factory: UnitOfWorkFactory, principal: Principal, period_id: str) -> Period:
    principal.require_role(*MANAGE_ROLES)
    async with uow_factory() as uow:
        period = await _load_for_update(uow, period_id)
        period.status, changed = status_after_close(period.status)
        if changed:
            period.closed_at = datetime.now(timezone.utc)
            uow.session.add(period)
            await uow.commit()
        return _detached(uow, period)


async def get_period(uow_factory: UnitOfWorkFactory, period_id: str) -> Period:
    async with uow_factory() as uow:
        period = await uow.session.get(Period, period_id)
        if period is None:
            raise not_found(period_id)
        return _detached(uow, period)


async def list_periods(uow_factory: UnitOfWorkFactory) -> list[Period]:
    async with uow_factory() as uow:
        rows = await uow.session.exec(
            select(Period).order_by(Period.year.desc(), Period.semester, Period.policy)  # type: ignore[union-attr]
        )
        return [_detached(uow, p) for p in rows.all()]
