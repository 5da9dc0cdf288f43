"""Period use cases: create from a policy, adjust the windows, open and close by the clock
(or by hand), read."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from kinerja_shared import access
from kinerja_shared.access import Resource
from kinerja_shared.access_rules.planning import PERIOD_MANAGE
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock, SystemClock, jakarta_date, tanggal
from kinerja_shared.errors import Conflict, NotFound
from kinerja_shared.events import (
    PeriodClosed, PeriodOpened, PeriodScheduleChanged, PeriodStage, PeriodStageStarted,
)
from kinerja_shared.events.envelope import NO_REGION
from kinerja_shared.identifiers import region_problem
from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

from kinerja_planning.adapters.tables import Period
from kinerja_planning.domain.periods import (
    CLOSED, OPEN, SCHEDULED, adjust_schedule, due_transitions, overlaps, period_window,
    status_after_close, status_after_open,
)

log = get_logger(__name__)


def _already_exists(policy: str, year: int, semester: int | None) -> Conflict:
    return Conflict(
        "periode_sudah_ada",
        f"Periode {policy} {year}{f' semester {semester}' if semester else ''} sudah ada.",
        f"Period {policy} {year} semester {semester} already exists.",
    )


def not_found(period_id: str) -> NotFound:
    return NotFound("periode_tidak_ditemukan", f"Periode '{period_id}' tidak ditemukan.", f"No period '{period_id}'.")


def may_manage(principal: Principal, calendar_region: str | None) -> None:
    """Periods have no school or district: they are the deployment's calendar, placed at
    ``calendar_region`` (KINERJA_PERIOD_REGION, e.g. the province ``xx0000``). The Dinas whose
    region claim covers it manages them; unset, only ``sistem`` does."""
    access.require(principal, PERIOD_MANAGE, Resource(region=calendar_region))


def _region(principal: Principal | None) -> str:
    # A province-wide period has no district: the caller's region if the token has one.
    if principal and principal.region and not region_problem(principal.region):
        return principal.region
    return NO_REGION


async def create_period(
    uow_factory: UnitOfWorkFactory, principal: Principal, policy: str, year: int, semester: int | None,
    *, periodic_review: str | None = None, stages: dict[str, tuple[date, date]] | None = None,
    late_planning_deadline: date | None = None, calendar_region: str | None = None,
) -> Period:
    may_manage(principal, calendar_region)
    window = period_window(policy, year, semester, periodic_review=periodic_review, stages=stages,
                           late_planning_deadline=late_planning_deadline)
    async with uow_factory() as uow:
        existing = (await uow.session.exec(select(Period))).all()
        for other in existing:
            if (other.policy, other.year, other.semester) == (policy, year, semester):
                raise _already_exists(policy, year, semester)
            if overlaps((window.starts_on, window.ends_on), (other.starts_on, other.ends_on)):
                raise Conflict(
                    "periode_tumpang_tindih",
                    f"Periode {window.name} ({tanggal(window.starts_on)} s.d. {tanggal(window.ends_on)}) "
                    f"tumpang tindih dengan periode {other.name} ({other.policy}).",
                    "The period overlaps another period.",
                    details={"period_id": other.period_id},
                )
        policy_data = window.policy
        period = Period(
            period_id=str(uuid.uuid4()), policy=policy, year=year, semester=semester,
            name=window.name, starts_on=window.starts_on, ends_on=window.ends_on,
            month_start=window.month_start, month_end=window.month_end, status=SCHEDULED,
            stages=window.schedule.as_json(), late_planning_deadline=window.schedule.late_planning_deadline,
            periodic_review=window.periodic_review, evidence_required=policy_data.evidence_required,
            competency_points_min=policy_data.competency_points_min,
            competency_points_max=policy_data.competency_points_max,
            competency_points_max_per_activity=policy_data.competency_points_max_per_activity,
            announced_stages=[],
        )
        uow.session.add(period)
        try:
            await uow.commit()
        except IntegrityError as exc:  # created concurrently by someone else
            raise _already_exists(policy, year, semester) from exc
        return _detached(uow, period)


def _stages(period: Period) -> list[PeriodStage]:
    return [PeriodStage(stage=w.stage, starts_on=w.starts_on, ends_on=w.ends_on) for w in period.schedule.stages]


async def adjust_period(
    uow_factory: UnitOfWorkFactory, principal: Principal, period_id: str,
    stages: dict[str, tuple[date, date]] | None, late_planning_deadline: date | None,
    *, clock: Clock = SystemClock(), calendar_region: str | None = None,
) -> Period:
    """The Dinas moves a period's windows, within the policy's bounds; refused once closed."""
    may_manage(principal, calendar_region)
    async with uow_factory() as uow:
        period = await _load_for_update(uow, period_id)
        if period.status == CLOSED:
            raise Conflict("periode_sudah_ditutup", "Periode sudah ditutup; jadwalnya tidak dapat diubah.",
                           "The period is closed.")
        schedule = adjust_schedule(period.schedule, period.starts_on, period.ends_on, stages, late_planning_deadline)
        period.stages = schedule.as_json()
        period.late_planning_deadline = schedule.late_planning_deadline
        # A stage moved later than today is announced again when it starts.
        today = jakarta_date(clock.now())
        period.announced_stages = [s for s in period.announced_stages if schedule.window(s).starts_on <= today]
        uow.session.add(period)
        if period.status == OPEN:
            uow.publish(
                PeriodScheduleChanged(
                    period_id=period.period_id, stages=_stages(period),
                    late_planning_deadline=period.late_planning_deadline,
                    changed_by=principal.nip or principal.sub, changed_at=clock.now(),
                ),
                region=_region(principal),
            )
        await uow.commit()
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


def _publish_opened(uow: UnitOfWork, period: Period, region: str) -> None:
    uow.publish(
        PeriodOpened(
            period_id=period.period_id, policy=period.policy, year=period.year,
            semester=period.semester, name=period.name, starts_on=period.starts_on,
            ends_on=period.ends_on, month_start=period.month_start, month_end=period.month_end,
            stages=_stages(period), late_planning_deadline=period.late_planning_deadline,
            evidence_required=period.evidence_required,
            competency_points_min=period.competency_points_min,
            competency_points_max=period.competency_points_max,
            competency_points_max_per_activity=period.competency_points_max_per_activity,
        ),
        region=region,
    )


def _apply(uow: UnitOfWork, period: Period, action: str, clock: Clock, region: str) -> None:
    now = clock.now()
    if action == "open":
        period.status, changed = status_after_open(period.status)
        if changed:
            period.opened_at = now
            _publish_opened(uow, period, region)
    elif action == "close":
        period.status, changed = status_after_close(period.status)
        if changed:
            period.closed_at = now
            uow.publish(PeriodClosed(period_id=period.period_id, closed_at=now), region=region)
    else:  # stage:<name>
        stage = action.split(":", 1)[1]
        window = period.schedule.window(stage)
        period.announced_stages = [*period.announced_stages, stage]
        uow.publish(
            PeriodStageStarted(period_id=period.period_id, stage=stage, starts_on=window.starts_on,
                               ends_on=window.ends_on, started_at=now),
            region=region,
        )
    uow.session.add(period)


async def open_period(uow_factory: UnitOfWorkFactory, principal: Principal, period_id: str,
                      *, clock: Clock = SystemClock(), calendar_region: str | None = None) -> Period:
    """By hand (the Dinas opens early, e.g. to let schools prepare); the clock opens it anyway
    on its first day. Opening an open period is a no-op."""
    may_manage(principal, calendar_region)
    async with uow_factory() as uow:
        period = await _load_for_update(uow, period_id)
        _apply(uow, period, "open", clock, _region(principal))
        await uow.commit()
        return _detached(uow, period)


async def close_period(uow_factory: UnitOfWorkFactory, principal: Principal, period_id: str,
                       *, clock: Clock = SystemClock(), calendar_region: str | None = None) -> Period:
    may_manage(principal, calendar_region)
    async with uow_factory() as uow:
        period = await _load_for_update(uow, period_id)
        _apply(uow, period, "close", clock, _region(principal))
        await uow.commit()
        return _detached(uow, period)


async def tick(uow_factory: UnitOfWorkFactory, clock: Clock) -> list[tuple[str, str]]:
    """Do what the clock says is due for every period not closed: open, announce stages,
    close. Each period in its own transaction under a row lock, so replicas ticking together
    do each step once. Returns what was done, (period_id, action)."""
    done: list[tuple[str, str]] = []
    async with uow_factory() as uow:
        ids = (await uow.session.exec(select(Period.period_id).where(Period.status != CLOSED))).all()
    for period_id in ids:
        async with uow_factory() as uow:
            period = await _load_for_update(uow, period_id)
            due = due_transitions(period.status, period.schedule, period.starts_on, period.ends_on,
                                  list(period.announced_stages), clock.now())
            for action in due:
                _apply(uow, period, action, clock, NO_REGION)
                done.append((period_id, action))
            if due:
                await uow.commit()
                log.info("period.clock", period_id=period_id, actions=due)
    return done


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
