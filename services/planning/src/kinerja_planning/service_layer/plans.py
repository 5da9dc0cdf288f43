"""Plan (SKP) use cases: submit, resubmit, approve, return, read."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from kinerja_shared.auth import Principal
from kinerja_shared.errors import Conflict, Forbidden, NotFound
from kinerja_shared.events import PlanApproved, PlanReturned, PlanSubmitted
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

from kinerja_planning.adapters.tables import Period, Person, PlanRow, School
from kinerja_planning.domain.periods import ensure_accepts_plans
from kinerja_planning.domain.plans import Plan
from kinerja_planning.service_layer.periods import not_found as period_not_found

ASSESSOR_ROLES = ("kepala_sekolah", "pengawas")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _plan_exists() -> Conflict:
    return Conflict(
        "rencana_sudah_ada",
        "Anda sudah memiliki rencana kinerja untuk periode ini.",
        "You already have a plan for this period.",
    )


def _plan_not_found(plan_id: str) -> NotFound:
    return NotFound(
        "rencana_tidak_ditemukan", f"Rencana '{plan_id}' tidak ditemukan.", f"No plan '{plan_id}'."
    )


def _denied() -> Forbidden:
    return Forbidden(
        "akses_ditolak", "Anda tidak berhak melihat rencana ini.", "You may not see this plan."
    )


async def _open_period(uow: UnitOfWork, period_id: str) -> Period:
    period = await uow.session.get(Period, period_id)
    if period is None:
        raise period_not_found(period_id)
    ensure_accepts_plans(period.status)
    return period


def _publish_submitted(uow: UnitOfWork, plan: Plan) -> None:
    uow.publish(
        PlanSubmitted(
            plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
            school_npsn=plan.school_npsn, assessor_nip=plan.assessor_nip,
            indicators=plan.indicators, revision=plan.revision, submitted_at=plan.last_change_at,
        ),
        region=plan.region_code,
    )


async def submit_plan(
    uow_factory: UnitOfWorkFactory, principal: Principal, period_id: str,
    indicators: list[str], summary: str | None,
) -> Plan:
    principal.require_role("guru")
    async with uow_factory() as uow:
        teacher = await uow.session.get(Person, principal.nip) if principal.nip else None
        if teacher is None or teacher.role != "guru" or not teacher.npsn or not teacher.assessor_nip:
            raise Forbidden(
                "guru_tidak_terdaftar",
                "NIP Anda tidak terdaftar sebagai guru di roster; hubungi operator sekolah.",
                "Your NIP is not in the roster as a guru.",
            )
        await _open_period(uow, period_id)
        school = await uow.session.get(School, teacher.npsn)
        plan = Plan.submit(
            plan_id=str(uuid.uuid4()), period_id=period_id, teacher_nip=teacher.nip,
            teacher_name=teacher.name, school_npsn=teacher.npsn,
            region_code=school.region_code if school else teacher.region_code,
            assessor_nip=teacher.assessor_nip, indicators=indicators, summary=summary, at=_now(),
        )
        existing = (
            await uow.session.exec(
                select(PlanRow.plan_id).where(
                    PlanRow.period_id == period_id, PlanRow.teacher_nip == teacher.nip
                )
            )
        ).first()
        if existing is not None:
            raise _plan_exists()
        uow.session.add(PlanRow.from_domain(plan))
        _publish_submitted(uow, plan)
        try:
            await uow.commit()
        except IntegrityError as exc:  # a double click: the other request won
            raise _plan_exists() from exc
        return plan


async def _load_for_update(uow: UnitOfWork, plan_id: str) -> PlanRow:
    # Locked (PostgreSQL) so two assessors' clicks take turns instead of both succeeding.
    row = (
        await uow.session.exec(select(PlanRow).where(PlanRow.plan_id == plan_id).with_for_update())
    ).first()
    if row is None:
        raise _plan_not_found(plan_id)
    return row


def _save(uow: UnitOfWork, row: PlanRow, plan: Plan) -> None:
    row.update_from(plan)
    uow.session.add(row)


async def resubmit_plan(
    uow_factory: UnitOfWorkFactory, principal: Principal, plan_id: str,
    indicators: list[str], summary: str | None,
) -> Plan:
    async with uow_factory() as uow:
        row = await _load_for_update(uow, plan_id)
        plan = row.to_domain()
        plan.ensure_owner(principal.nip if principal.role == "guru" else None)
        await _open_period(uow, plan.period_id)
        plan.resubmit(by=principal.nip or "", indicators=indicators, summary=summary, at=_now())
        _save(uow, row, plan)
        _publish_submitted(uow, plan)
        await uow.commit()
        return plan


def _assessor_nip(principal: Principal) -> str | None:
    return principal.nip if principal.role in ASSESSOR_ROLES else None


async def approve_plan(uow_factory: UnitOfWorkFactory, principal: Principal, plan_id: str) -> Plan:
    async with uow_factory() as uow:
        row = await _load_for_update(uow, plan_id)
        plan = row.to_domain()
        by = _assessor_nip(principal)
        plan.ensure_assessor(by)
        await _open_period(uow, plan.period_id)
        plan.approve(by=by or "", at=_now())
        _save(uow, row, plan)
        uow.publish(
            PlanApproved(
                plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
                school_npsn=plan.school_npsn, assessor_nip=plan.assessor_nip,
                indicators=plan.indicators, revision=plan.revision, approved_by=by or "",
                approved_at=plan.last_change_at,
            ),
            region=plan.region_code,
        )
        await uow.commit()
        return plan


async def return_plan(
    uow_factory: UnitOfWorkFactory, principal: Principal, plan_id: str, reason: str | None
) -> Plan:
    async with uow_factory() as uow:
        row = await _load_for_update(uow, plan_id)
        plan = row.to_domain()
        by = _assessor_nip(principal)
        plan.ensure_assessor(by)
        await _open_period(uow, plan.period_id)
        plan.return_for_revision(by=by or "", reason=reason, at=_now())
        _save(uow, row, plan)
        uow.publish(
            PlanReturned(
                plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
                school_npsn=plan.school_npsn, revision=plan.revision,
                reason=plan.return_reason or "", returned_by=by or "",
                returned_at=plan.last_change_at,
            ),
            region=plan.region_code,
        )
        await uow.commit()
        return plan


def _may_read(principal: Principal, plan: Plan) -> bool:
    if principal.is_dinas:
        return True
    if principal.role == "guru":
        return principal.nip == plan.teacher_nip
    if principal.role == "kepala_sekolah":
        return principal.npsn == plan.school_npsn or principal.nip == plan.assessor_nip
    return False


async def get_plan(uow_factory: UnitOfWorkFactory, principal: Principal, plan_id: str) -> Plan:
    async with uow_factory() as uow:
        row = await uow.session.get(PlanRow, plan_id)
        if row is None:
            raise _plan_not_found(plan_id)
        plan = row.to_domain()
    if not _may_read(principal, plan):
        raise _denied()
    return plan


async def list_plans(
    uow_factory: UnitOfWorkFactory, principal: Principal, *, period_id: str | None = None,
    npsn: str | None = None, teacher_nip: str | None = None,
) -> list[Plan]:
    """Filters narrow what the caller may see; they never widen it."""
    query = select(PlanRow)
    if principal.role == "guru":
        query = query.where(PlanRow.teacher_nip == (principal.nip or ""))
    elif principal.role == "kepala_sekolah":
        query = query.where(PlanRow.school_npsn == (principal.npsn or ""))
    elif not principal.is_dinas:
        raise Forbidden(
            "peran_tidak_diizinkan",
            f"Peran '{principal.role}' tidak boleh melihat daftar rencana.",
            f"Role '{principal.role}' may not list plans.",
        )
    if period_id:
        query = query.where(PlanRow.period_id == period_id)
    if npsn:
        query = query.where(PlanRow.school_npsn == npsn)
    if teacher_nip:
        query = query.where(PlanRow.teacher_nip == teacher_nip)
    async with uow_factory() as uow:
        rows = (await uow.session.exec(query.order_by(PlanRow.created_at, PlanRow.plan_id))).all()
        return [r.to_domain() for r in rows]
