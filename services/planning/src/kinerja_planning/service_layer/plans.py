"""Plan (SKP) use cases: start a draft, save its steps, submit, agree, return, and the
queries a teacher, a principal, a pengawas and the Dinas need."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from kinerja_shared import access
from kinerja_shared.access import Columns, Resource
from kinerja_shared.access_rules.planning import (
    COMPLETION_READ, DISTRICT_COMPLETION_READ, PLAN_CREATE, PLAN_EDIT, PLAN_READ, PLAN_REVIEW,
)
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock, SystemClock, end_of_day
from kinerja_shared.errors import AppError, Conflict, Forbidden, NotFound
from kinerja_shared.limits import PAGE_MAX
from kinerja_shared.events import (
    MonthlyTarget, PlanApproved, PlanDraftSaved, PlanItem, PlanReturned, PlanSubmitted,
)
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

from kinerja_planning.adapters.tables import Period, Person, PlanRow, School
from kinerja_planning.domain.periods import (
    ensure_accepts_agreement, ensure_accepts_plans, get_policy, period_months,
)
from kinerja_planning.domain.plans import APPROVED, GURU, KEPALA_SEKOLAH, STEPS, SUBMITTED, Plan, PlanRules
from kinerja_planning.domain.policy import rubric
from kinerja_planning.service_layer.periods import not_found as period_not_found
from kinerja_planning.service_layer.priorities import priorities_for
from kinerja_planning.service_layer.roster import school_not_found, school_resource

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page:
    page: int = 1
    page_size: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.page <= PAGE_MAX or not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise AppError("halaman_tidak_valid",
                           f"Halaman 1 sampai {PAGE_MAX}; ukuran halaman 1 sampai {MAX_PAGE_SIZE}.",
                           "Invalid page or page size.", status_code=422)

    def apply(self, query):
        return query.offset((self.page - 1) * self.page_size).limit(self.page_size)


def _plan_exists(plan_id: str | None) -> Conflict:
    # The existing plan's id lets a client that lost the first answer carry on with it.
    return Conflict("rencana_sudah_ada", "Anda sudah memiliki rencana kinerja untuk periode ini.",
                    "You already have a plan for this period.",
                    details={"plan_id": plan_id} if plan_id else None)


async def _existing_plan_id(uow: UnitOfWork, period_id: str, teacher_nip: str) -> str | None:
    return (await uow.session.exec(select(PlanRow.plan_id).where(
        PlanRow.period_id == period_id, PlanRow.teacher_nip == teacher_nip))).first()


def _plan_not_found(plan_id: str) -> NotFound:
    return NotFound("rencana_tidak_ditemukan", f"Rencana '{plan_id}' tidak ditemukan.", f"No plan '{plan_id}'.")


def plan_resource(plan: Plan) -> Resource:
    return Resource(npsn=plan.school_npsn, region=plan.region_code, owner_nip=plan.teacher_nip,
                    assessor_nip=plan.assessor_nip)


_PLAN_COLUMNS = Columns(owner_nip=PlanRow.teacher_nip, assessor_nip=PlanRow.assessor_nip,
                        npsn=PlanRow.school_npsn, region=PlanRow.region_code)


def _require(principal: Principal, action: str, plan: Plan, refusal: Forbidden) -> None:
    """The policy's answer, with the refusal the plan's use case words best."""
    access.require_action(principal, action)
    if not access.allows(principal, action, plan_resource(plan)):
        raise refusal


def _not_owner() -> Forbidden:
    return Forbidden("akses_ditolak", "Rencana ini milik orang lain.", "This plan belongs to someone else.")


def _not_assessor() -> Forbidden:
    return Forbidden(
        "bukan_penilai",
        "Hanya pejabat penilai kinerja pemilik rencana ini yang dapat menyetujui atau mengembalikannya.",
        "Only this plan's assessor may agree or return it.",
    )


def _denied() -> Forbidden:
    return Forbidden("akses_ditolak", "Anda tidak berhak melihat rencana ini.", "You may not see this plan.")


async def _period(uow: UnitOfWork, period_id: str) -> Period:
    period = await uow.session.get(Period, period_id)
    if period is None:
        raise period_not_found(period_id)
    return period


async def _rules(uow: UnitOfWork, period: Period, plan: Plan) -> PlanRules:
    policy = get_policy(period.policy)
    execution = period.schedule.window("pelaksanaan")
    months = period_months(period.year, period.month_start, period.month_end)
    return PlanRules(
        kind=plan.kind, rubric=rubric(),
        priorities=await priorities_for(uow, plan.school_npsn, period.period_id),
        points_min=period.competency_points_min, points_max=period.competency_points_max,
        points_max_per_activity=period.competency_points_max_per_activity,
        months=tuple(months),
        target_months=tuple(m for m in months if execution.starts_on.strftime("%Y-%m") <= m <= execution.ends_on.strftime("%Y-%m")),
        monthly_targets_required=policy.monthly_targets_required,
    )


def _items(plan: Plan) -> list[PlanItem]:
    return [
        *(PlanItem(item_id=p["item_id"], kind="praktik_kinerja", code=p["indicator"], title=p["title"],
                   focus_behaviours=p["focus_behaviours"]) for p in plan.praktik_kinerja),
        *(PlanItem(item_id=a["item_id"], kind="pengembangan_kompetensi", code=a["activity_type"],
                   title=a["title"], points=a["points"]) for a in plan.pengembangan_kompetensi),
        *(PlanItem(item_id=t["item_id"], kind="tugas_tambahan", code="tugas_tambahan", title=t["duty"])
          for t in plan.tugas_tambahan),
    ]


def _targets(plan: Plan) -> list[MonthlyTarget]:
    return [MonthlyTarget(target_id=t["target_id"], month=t["month"], item_id=t["item_id"],
                          description=t["description"]) for t in plan.target_bulanan]


def _draft_saved(uow: UnitOfWork, plan: Plan, step: str) -> None:
    uow.publish(
        PlanDraftSaved(plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
                       school_npsn=plan.school_npsn, plan_kind=plan.kind, step=step, saved_at=plan.last_change_at),
        region=plan.region_code,
    )


async def create_plan(
    uow_factory: UnitOfWorkFactory, principal: Principal, period_id: str,
    steps: dict[str, Any] | None = None, *, clock: Clock = SystemClock(),
) -> Plan:
    """A guru (or a kepala sekolah, for their own plan) starts a draft; any steps sent along
    are saved at once (one request for a teacher on a slow connection)."""
    access.require_action(principal, PLAN_CREATE)
    async with uow_factory() as uow:
        person = await uow.session.get(Person, principal.nip) if principal.nip else None
        if person is None or person.role != principal.role or not person.npsn or person.left_at:
            raise Forbidden("tidak_terdaftar_di_roster",
                            "NIP Anda tidak terdaftar di roster sekolah dengan peran ini; hubungi operator sekolah.",
                            "Your NIP is not in the roster with this role.")
        if not person.assessor_nip:
            actor = "operator dinas (Tim Kinerja)" if person.role == KEPALA_SEKOLAH else "operator sekolah"
            raise Conflict("penilai_belum_ditetapkan",
                           f"Anda belum memiliki pejabat penilai kinerja; hubungi {actor}.",
                           "You have no assessor in the roster.")
        period = await _period(uow, period_id)
        now = clock.now()
        ensure_accepts_plans(period.status, period.schedule, now)
        school = await uow.session.get(School, person.npsn)
        plan = Plan.start(
            plan_id=str(uuid.uuid4()), period_id=period_id, kind=person.role, teacher_nip=person.nip,
            teacher_name=person.name, school_npsn=person.npsn,
            region_code=school.region_code if school else person.region_code,
            assessor_nip=person.assessor_nip, at=now,
        )
        rules = await _rules(uow, period, plan)
        for step in STEPS:
            if steps and steps.get(step) is not None:
                plan.save_step(step, steps[step], rules, by=person.nip, at=now)
        existing = await _existing_plan_id(uow, period_id, person.nip)
        if existing is not None:
            raise _plan_exists(existing)
        uow.session.add(PlanRow.from_domain(plan))
        _draft_saved(uow, plan, "dibuat")
        try:
            await uow.commit()
        except IntegrityError as exc:  # a double click: the other request won (uq_planning_plan_teacher)
            await uow.rollback()  # expires the ORM rows: use the domain plan's fields
            existing = await _existing_plan_id(uow, period_id, plan.teacher_nip)
            if existing is None:
                raise  # some other constraint: not a repeat
            raise _plan_exists(existing) from exc
        return plan


async def _load_for_update(uow: UnitOfWork, plan_id: str) -> PlanRow:
    # Locked (PostgreSQL) so two clicks take turns instead of both succeeding.
    row = (await uow.session.exec(select(PlanRow).where(PlanRow.plan_id == plan_id).with_for_update())).first()
    if row is None:
        raise _plan_not_found(plan_id)
    return row


def _save(uow: UnitOfWork, row: PlanRow, plan: Plan) -> None:
    row.update_from(plan)
    uow.session.add(row)


async def save_step(
    uow_factory: UnitOfWorkFactory, principal: Principal, plan_id: str, step: str, raw: Any,
    *, clock: Clock = SystemClock(),
) -> Plan:
    async with uow_factory() as uow:
        row = await _load_for_update(uow, plan_id)
        plan = row.to_domain()
        _require(principal, PLAN_EDIT, plan, _not_owner())
        period = await _period(uow, plan.period_id)
        ensure_accepts_plans(period.status, period.schedule, clock.now())
        plan.save_step(step, raw, await _rules(uow, period, plan), by=plan.teacher_nip, at=clock.now())
        _save(uow, row, plan)
        _draft_saved(uow, plan, step)
        await uow.commit()
        return plan


async def submit_plan(uow_factory: UnitOfWorkFactory, principal: Principal, plan_id: str,
                      *, clock: Clock = SystemClock()) -> Plan:
    async with uow_factory() as uow:
        row = await _load_for_update(uow, plan_id)
        plan = row.to_domain()
        _require(principal, PLAN_EDIT, plan, _not_owner())
        period = await _period(uow, plan.period_id)
        ensure_accepts_plans(period.status, period.schedule, clock.now())
        plan.submit(await _rules(uow, period, plan), by=plan.teacher_nip, at=clock.now())
        _save(uow, row, plan)
        uow.publish(
            PlanSubmitted(
                plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
                school_npsn=plan.school_npsn, assessor_nip=plan.assessor_nip, indicators=plan.indicators,
                plan_kind=plan.kind, policy=period.policy, items=_items(plan),
                monthly_targets=_targets(plan), competency_points=plan.competency_points,
                revision=plan.revision, submitted_at=plan.last_change_at,
            ),
            region=plan.region_code,
        )
        await uow.commit()
        return plan


async def approve_plan(uow_factory: UnitOfWorkFactory, principal: Principal, plan_id: str,
                       expectations: dict[str, str] | None = None, *, clock: Clock = SystemClock()) -> Plan:
    async with uow_factory() as uow:
        row = await _load_for_update(uow, plan_id)
        plan = row.to_domain()
        _require(principal, PLAN_REVIEW, plan, _not_assessor())
        by = plan.assessor_nip
        period = await _period(uow, plan.period_id)
        ensure_accepts_agreement(period.status, period.schedule, clock.now())
        plan.approve(by=by, expectations=expectations, at=clock.now())
        _save(uow, row, plan)
        uow.publish(
            PlanApproved(
                plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
                school_npsn=plan.school_npsn, assessor_nip=plan.assessor_nip, indicators=plan.indicators,
                plan_kind=plan.kind, policy=period.policy, items=_items(plan),
                monthly_targets=_targets(plan), competency_points=plan.competency_points,
                revision=plan.revision, approved_by=by, approved_at=plan.last_change_at,
            ),
            region=plan.region_code,
        )
        await uow.commit()
        return plan


async def return_plan(uow_factory: UnitOfWorkFactory, principal: Principal, plan_id: str,
                      reason: str | None, *, clock: Clock = SystemClock()) -> Plan:
    async with uow_factory() as uow:
        row = await _load_for_update(uow, plan_id)
        plan = row.to_domain()
        _require(principal, PLAN_REVIEW, plan, _not_assessor())
        by = plan.assessor_nip
        period = await _period(uow, plan.period_id)
        ensure_accepts_agreement(period.status, period.schedule, clock.now())
        plan.return_for_revision(by=by, reason=reason, at=clock.now())
        _save(uow, row, plan)
        uow.publish(
            PlanReturned(
                plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
                school_npsn=plan.school_npsn, revision=plan.revision, reason=plan.return_reason or "",
                returned_by=by, returned_at=plan.last_change_at,
            ),
            region=plan.region_code,
        )
        await uow.commit()
        return plan


# ------------------------------------------------------------------ queries


async def get_plan(uow_factory: UnitOfWorkFactory, principal: Principal, plan_id: str) -> Plan:
    access.require_action(principal, PLAN_READ)
    async with uow_factory() as uow:
        row = await uow.session.get(PlanRow, plan_id)
        if row is None:
            raise _plan_not_found(plan_id)
        plan = row.to_domain()
    _require(principal, PLAN_READ, plan, _denied())
    return plan


async def _paged(uow_factory: UnitOfWorkFactory, query, page: Page) -> tuple[list[Plan], int]:
    async with uow_factory() as uow:
        total = (await uow.session.exec(select(func.count()).select_from(query.subquery()))).one()
        rows = (await uow.session.exec(page.apply(query.order_by(PlanRow.created_at, PlanRow.plan_id)))).all()
        return [r.to_domain() for r in rows], total


async def list_plans(
    uow_factory: UnitOfWorkFactory, principal: Principal, *, period_id: str | None = None,
    npsn: str | None = None, teacher_nip: str | None = None, status: str | None = None,
    page: Page = Page(),
) -> tuple[list[Plan], int]:
    """Filters narrow what the caller may see; they never widen it."""
    query = select(PlanRow).where(access.scope_filter(principal, PLAN_READ, _PLAN_COLUMNS))
    if period_id:
        query = query.where(PlanRow.period_id == period_id)
    if npsn:
        query = query.where(PlanRow.school_npsn == npsn)
    if teacher_nip:
        query = query.where(PlanRow.teacher_nip == teacher_nip)
    if status:
        query = query.where(PlanRow.status == status)
    return await _paged(uow_factory, query, page)


async def inbox(uow_factory: UnitOfWorkFactory, principal: Principal, *, period_id: str | None = None,
                page: Page = Page()) -> tuple[list[Plan], int]:
    """Plans waiting for the caller to agree or return: a principal's guru, a pengawas'
    principals (across all the schools they cover)."""
    query = select(PlanRow).where(access.scope_filter(principal, PLAN_REVIEW, _PLAN_COLUMNS),
                                  PlanRow.status == SUBMITTED)
    if period_id:
        query = query.where(PlanRow.period_id == period_id)
    return await _paged(uow_factory, query, page)


# ------------------------------------------------------------------ completion


@dataclass
class Completion:
    npsn: str
    name: str
    region_code: str
    teachers: int = 0
    draft: int = 0
    submitted: int = 0
    returned: int = 0
    agreed: int = 0
    agreed_by_deadline: int = 0

    @property
    def no_plan(self) -> int:
        return max(self.teachers - self.draft - self.submitted - self.returned - self.agreed, 0)

    def as_dict(self) -> dict:
        return {**self.__dict__, "no_plan": self.no_plan}


async def _completion(uow, period: Period, schools: list[School]) -> list[Completion]:
    """One grouped query for teachers and one for plans, whatever the number of schools."""
    by_npsn = {s.npsn: Completion(s.npsn, s.name, s.region_code) for s in schools}
    if not by_npsn:
        return []
    teachers = await uow.session.exec(
        select(Person.npsn, func.count()).where(
            Person.npsn.in_(by_npsn), Person.role == GURU, Person.left_at.is_(None)  # type: ignore[union-attr]
        ).group_by(Person.npsn)
    )
    for npsn, n in teachers.all():
        by_npsn[npsn].teachers = n
    deadline = end_of_day(period.schedule.planning_deadline)
    plans = await uow.session.exec(
        select(PlanRow.school_npsn, PlanRow.status, PlanRow.approved_at).where(
            PlanRow.period_id == period.period_id, PlanRow.kind == GURU, PlanRow.school_npsn.in_(by_npsn)  # type: ignore[attr-defined]
        )
    )
    for npsn, status, approved_at in plans.all():
        c = by_npsn[npsn]
        if status == APPROVED:
            c.agreed += 1
            if approved_at is not None and _aware(approved_at) <= deadline:
                c.agreed_by_deadline += 1
        else:
            setattr(c, status, getattr(c, status) + 1)
    return list(by_npsn.values())


def _aware(at):
    from datetime import timezone
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


async def school_completion(uow_factory: UnitOfWorkFactory, principal: Principal, npsn: str, period_id: str) -> dict:
    access.require_action(principal, COMPLETION_READ)
    async with uow_factory() as uow:
        school = await uow.session.get(School, npsn)
        if school is None:
            raise school_not_found(npsn)
        access.require(principal, COMPLETION_READ, school_resource(school))
        period = await _period(uow, period_id)
        (row,) = await _completion(uow, period, [school])
        return {**row.as_dict(), "period_id": period_id,
                "planning_deadline": period.schedule.planning_deadline.isoformat()}


async def district_completion(uow_factory: UnitOfWorkFactory, principal: Principal, code: str,
                              period_id: str, page: Page = Page()) -> dict:
    access.require(principal, DISTRICT_COMPLETION_READ, Resource(region=code))
    async with uow_factory() as uow:
        period = await _period(uow, period_id)
        base = select(School).where(School.region_code == code)
        total_schools = (await uow.session.exec(select(func.count()).select_from(base.subquery()))).one()
        # Totals over every school of the district; the rows of one page.
        all_rows = await _completion(uow, period, list((await uow.session.exec(base)).all()))
        totals = Completion("", "", code)
        for r in all_rows:
            for f in ("teachers", "draft", "submitted", "returned", "agreed", "agreed_by_deadline"):
                setattr(totals, f, getattr(totals, f) + getattr(r, f))
        all_rows.sort(key=lambda r: r.npsn)
        start = (page.page - 1) * page.page_size
        return {
            "region_code": code, "period_id": period_id,
            "planning_deadline": period.schedule.planning_deadline.isoformat(),
            "totals": {k: v for k, v in totals.as_dict().items() if k not in ("npsn", "name", "region_code")},
            "schools": total_schools, "page": page.page, "page_size": page.page_size,
            "items": [r.as_dict() for r in all_rows[start:start + page.page_size]],
        }
