"""The HTTP API for periods, Rapor Pendidikan priorities, plans (SKP) and completion (thin:
parse, call the use case, shape the JSON). The roster and readiness routes are in http.py."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, Field

from kinerja_shared import access
from kinerja_shared.access_rules.planning import (
    COMPLETION_READ, DISTRICT_COMPLETION_READ, PERIOD_MANAGE, PERIOD_READ, PLAN_CREATE, PLAN_EDIT, PLAN_READ,
    PLAN_REVIEW, POLICIES_READ, PRIORITIES_READ, PRIORITIES_SET,
)
from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.clock import Clock, jakarta_date
from kinerja_shared.limits import PAGE_MAX, BoundedModel, ID_MAX, REASON_MAX, require_bounded
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.adapters.tables import Period, SchoolPriorities
from kinerja_planning.domain import plans as domain_plans
from kinerja_planning.domain.plans import BERAKHLAK, Plan
from kinerja_planning.domain.policy import STAGES, policies, rubric
from kinerja_planning.entrypoints.http import _errors
from kinerja_planning.service_layer import periods, plans, priorities
from kinerja_planning.service_layer.plans import MAX_PAGE_SIZE, Page

router = APIRouter(prefix="/v1")


def _uow(request: Request) -> UnitOfWorkFactory:
    return request.app.state.runtime.uow


def _clock(request: Request) -> Clock:
    return request.app.state.runtime.clock


# Bounded here (422 naming the parameter) so a huge page never reaches the database as an offset.
PAGE = Query(1, ge=1, le=PAGE_MAX)
PAGE_SIZE = Query(50, ge=1, le=MAX_PAGE_SIZE)


def _calendar(request: Request) -> str | None:
    return request.app.state.settings.period_region


def _page(page: int = PAGE, page_size: int = PAGE_SIZE) -> Page:
    return Page(page, page_size)


# ------------------------------------------------------------------------ policies


@router.get("/policies", tags=["periods"], summary="The policies a period can be made from, and the rubric",
            openapi_extra=access.action_extra(POLICIES_READ))
async def list_policies(principal: CurrentPrincipal) -> dict:
    r = rubric()
    return {
        "policies": [
            {"code": p.code, "name": p.name,
             "periods": [{"semester": t.semester, "name": t.name, "month_start": t.month_start,
                          "month_end": t.month_end, "stages": t.stages,
                          "late_planning_deadline": t.late_planning_deadline} for t in p.periods],
             "competency_points": {"min": p.competency_points_min, "max": p.competency_points_max,
                                   "max_per_activity": p.competency_points_max_per_activity},
             "evidence_required": p.evidence_required, "periodic_reviews": list(p.periodic_reviews)}
            for p in policies().values()
        ],
        "indicators": [{"code": i.code, "title": i.title, "parent": i.parent,
                        "focus_behaviours": list(i.focus_behaviours)} for i in r.indicators.values()],
        "principal_indicator": r.principal_indicator,
        "competency_activities": r.competency_activities,
        "berakhlak": BERAKHLAK,
    }


# ------------------------------------------------------------------------ periods


class StageIn(BoundedModel):
    starts_on: date
    ends_on: date


class PeriodIn(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"policy": ID_MAX, "periodic_review": ID_MAX}

    policy: str = Field(examples=["pmm-2024"])
    year: int = Field(examples=[2026])
    semester: int | None = Field(default=None, examples=[1])
    periodic_review: str | None = Field(default=None, description="ruang-gtk-2025: bulanan or triwulanan")
    stages: dict[str, StageIn] | None = Field(default=None, description="windows moved by the Dinas (perencanaan, pelaksanaan, penilaian)")
    late_planning_deadline: date | None = None


class ScheduleIn(BoundedModel):
    stages: dict[str, StageIn] | None = None
    late_planning_deadline: date | None = None


class StageOut(BaseModel):
    stage: str
    starts_on: str
    ends_on: str


class PeriodOut(BaseModel):
    period_id: str
    policy: str
    year: int
    semester: int | None
    name: str
    starts_on: str
    ends_on: str
    month_start: int
    month_end: int
    status: str
    stages: list[StageOut]
    current_stage: str | None = Field(description="the stage today (Asia/Jakarta), none before or after")
    late_planning_deadline: str | None
    planning_deadline: str = Field(description="last day a plan can be submitted, 23:59:59 WIB")
    periodic_review: str | None
    evidence_required: bool
    competency_points: dict[str, int]


class PeriodsOut(BaseModel):
    periods: list[PeriodOut]


def _period_out(p: Period, clock: Clock) -> PeriodOut:
    schedule = p.schedule
    return PeriodOut(
        period_id=p.period_id, policy=p.policy, year=p.year, semester=p.semester, name=p.name,
        starts_on=p.starts_on.isoformat(), ends_on=p.ends_on.isoformat(),
        month_start=p.month_start, month_end=p.month_end, status=p.status,
        stages=[StageOut(**w.as_dict()) for w in schedule.stages],
        current_stage=schedule.stage_on(jakarta_date(clock.now())) if p.status == "open" else None,
        late_planning_deadline=p.late_planning_deadline.isoformat() if p.late_planning_deadline else None,
        planning_deadline=schedule.planning_deadline.isoformat(),
        periodic_review=p.periodic_review, evidence_required=p.evidence_required,
        competency_points={"min": p.competency_points_min, "max": p.competency_points_max,
                           "max_per_activity": p.competency_points_max_per_activity},
    )


def _stages(stages: dict[str, StageIn] | None) -> dict[str, tuple[date, date]] | None:
    return {k: (v.starts_on, v.ends_on) for k, v in stages.items()} if stages else None


_PERIOD_NOT_FOUND = (404, "periode_tidak_ditemukan", "no such period")
_MANAGE_ONLY = (403, "peran_tidak_diizinkan / akses_ditolak / cakupan_tidak_ada",
                "not dinas or operator_dinas; a region claim not covering KINERJA_PERIOD_REGION; no region claim")
_BAD_SCHEDULE = (422, "jadwal_periode_tidak_valid", "windows outside the period, out of order, overlapping, or a late deadline outside planning..execution")


@router.post(
    "/periods", status_code=201, tags=["periods"],
    summary="Create a period from a policy (status scheduled; the clock opens it on its first day)",
    responses=_errors(
        (422, "kebijakan_tidak_dikenal", "unknown policy"),
        (422, "semester_tidak_valid", "no such period under the policy"),
        (422, "tahun_tidak_valid", "year outside 2000-2100"),
        (422, "peninjauan_berkala_tidak_valid", "periodic review unknown to the policy"),
        _BAD_SCHEDULE,
        (409, "periode_sudah_ada", "same policy, year and semester exists"),
        (409, "periode_tumpang_tindih", "its months overlap another period"),
        _MANAGE_ONLY,
    ),
    openapi_extra=access.action_extra(PERIOD_MANAGE),
)
async def create_period(body: PeriodIn, request: Request, principal: CurrentPrincipal) -> PeriodOut:
    period = await periods.create_period(
        _uow(request), principal, body.policy, body.year, body.semester,
        periodic_review=body.periodic_review, stages=_stages(body.stages),
        late_planning_deadline=body.late_planning_deadline, calendar_region=_calendar(request),
    )
    return _period_out(period, _clock(request))


@router.put(
    "/periods/{period_id}/schedule", tags=["periods"],
    summary="The Dinas moves a period's windows within its policy's bounds (publishes PeriodScheduleChanged when open)",
    responses=_errors(_PERIOD_NOT_FOUND, _BAD_SCHEDULE, (409, "periode_sudah_ditutup", "closed"), _MANAGE_ONLY),
    openapi_extra=access.action_extra(PERIOD_MANAGE),
)
async def adjust_period(period_id: str, body: ScheduleIn, request: Request, principal: CurrentPrincipal) -> PeriodOut:
    period = await periods.adjust_period(_uow(request), principal, period_id, _stages(body.stages),
                                         body.late_planning_deadline, clock=_clock(request),
                                         calendar_region=_calendar(request))
    return _period_out(period, _clock(request))


@router.get("/periods", tags=["periods"], summary="All periods, newest year first",
            openapi_extra=access.action_extra(PERIOD_READ))
async def list_periods(request: Request, principal: CurrentPrincipal) -> PeriodsOut:
    return PeriodsOut(periods=[_period_out(p, _clock(request)) for p in await periods.list_periods(_uow(request))])


@router.get("/periods/{period_id}", tags=["periods"], responses=_errors(_PERIOD_NOT_FOUND),
            openapi_extra=access.action_extra(PERIOD_READ))
async def get_period(period_id: str, request: Request, principal: CurrentPrincipal) -> PeriodOut:
    return _period_out(await periods.get_period(_uow(request), period_id), _clock(request))


_WRONG_PERIOD_STATUS = (409, "status_periode_tidak_sesuai", "the period cannot move to that status")


@router.post(
    "/periods/{period_id}/open", tags=["periods"],
    summary="Open a scheduled period now (the clock does it on the first day anyway); again = no-op",
    responses=_errors(_PERIOD_NOT_FOUND, _WRONG_PERIOD_STATUS, _MANAGE_ONLY),
    openapi_extra=access.action_extra(PERIOD_MANAGE),
)
async def open_period(period_id: str, request: Request, principal: CurrentPrincipal) -> PeriodOut:
    return _period_out(await periods.open_period(_uow(request), principal, period_id, clock=_clock(request),
                                                       calendar_region=_calendar(request)), _clock(request))


@router.post(
    "/periods/{period_id}/close", tags=["periods"],
    summary="Close an open period now (the clock does it after the last day); again = no-op",
    responses=_errors(_PERIOD_NOT_FOUND, _WRONG_PERIOD_STATUS, _MANAGE_ONLY),
    openapi_extra=access.action_extra(PERIOD_MANAGE),
)
async def close_period(period_id: str, request: Request, principal: CurrentPrincipal) -> PeriodOut:
    return _period_out(await periods.close_period(_uow(request), principal, period_id, clock=_clock(request),
                                                        calendar_region=_calendar(request)), _clock(request))


# ------------------------------------------------------------------------ priorities


class PrioritiesIn(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"results": ID_MAX, "priorities": ID_MAX}

    results: dict[str, str] = Field(examples=[{"A.1": "KURANG", "A.2": "SEDANG", "D.1": "KURANG", "D.4": "BAIK"}])
    priorities: list[str] = Field(examples=[["A.1", "D.1"]])


class IndicatorOption(BaseModel):
    code: str
    title: str
    parent: str | None
    focus_behaviours: list[str]


class PrioritiesOut(BaseModel):
    npsn: str
    period_id: str
    results: dict[str, str]
    priorities: list[str]
    options: list[IndicatorOption] = Field(description="what the school's guru may take as Praktik Kinerja: "
                                                        "the priorities and their sub-indicators, with focus behaviours")
    set_by: str
    set_at: str


def _priorities_out(row: SchoolPriorities) -> PrioritiesOut:
    r = rubric()
    options = [IndicatorOption(code=i.code, title=i.title, parent=i.parent, focus_behaviours=list(i.focus_behaviours))
               for i in r.indicators.values() if r.top_level(i.code) in row.priorities]
    return PrioritiesOut(npsn=row.npsn, period_id=row.period_id, results=row.results,
                         priorities=row.priorities, options=options, set_by=row.set_by,
                         set_at=row.set_at.isoformat())


@router.put(
    "/schools/{npsn}/priorities/{period_id}", tags=["priorities"],
    summary="The principal records the school's Rapor Pendidikan results and chooses its priorities",
    responses=_errors((422, "prioritas_tidak_valid", "unknown indicator, level not Baik/Sedang/Kurang, priority without a result"),
                      (403, "akses_ditolak", "not this school's principal"), _PERIOD_NOT_FOUND,
                      (404, "sekolah_tidak_ditemukan", "no such school")),
    openapi_extra=access.action_extra(PRIORITIES_SET),
)
async def set_priorities(npsn: str, period_id: str, body: PrioritiesIn, request: Request,
                         principal: CurrentPrincipal) -> PrioritiesOut:
    row = await priorities.set_priorities(_uow(request), principal, npsn, period_id, body.results,
                                          body.priorities, clock=_clock(request))
    return _priorities_out(row)


@router.get("/schools/{npsn}/priorities/{period_id}", tags=["priorities"],
            responses=_errors((404, "prioritas_belum_ditetapkan", "none set yet"), (403, "akses_ditolak", "another school")),
            openapi_extra=access.action_extra(PRIORITIES_READ))
async def get_priorities(npsn: str, period_id: str, request: Request, principal: CurrentPrincipal) -> PrioritiesOut:
    return _priorities_out(await priorities.get_priorities(_uow(request), principal, npsn, period_id))


# ------------------------------------------------------------------------ plans


class PlanIn(BoundedModel):
    # Every text inside the steps at most TEXT_MAX characters, every list at most LIST_MAX.
    bounds: ClassVar[dict[str, int]] = {"period_id": ID_MAX}

    period_id: str
    praktik_kinerja: list[dict[str, Any]] | None = Field(
        default=None, examples=[[{"indicator": "D.1", "focus_behaviours": ["Disiplin positif"]}]])
    pengembangan_kompetensi: list[dict[str, Any]] | None = Field(
        default=None, examples=[[{"activity_type": "komunitas_belajar", "title": "Kombel literasi", "points": 32}]])
    tugas_tambahan: list[dict[str, Any]] | None = None
    perilaku_kerja: dict[str, Any] | None = None
    rangkuman: str | None = None
    target_bulanan: list[dict[str, Any]] | None = Field(
        default=None, examples=[[{"month": "2026-02", "description": "Menerapkan disiplin positif di kelas 4"}]])


class ApproveIn(BoundedModel):
    perilaku_kerja: dict[str, str] | None = Field(default=None, description="the PPK's specific expectation per BerAKHLAK value")


class ReturnIn(BoundedModel):
    bounds: ClassVar[dict[str, int]] = {"reason": REASON_MAX}

    reason: str | None = None


class HistoryOut(BaseModel):
    action: str
    by: str
    at: str
    reason: str | None


class PlanOut(BaseModel):
    plan_id: str
    period_id: str
    kind: str
    teacher_nip: str
    teacher_name: str
    school_npsn: str
    assessor_nip: str
    status: str
    status_label: str
    revision: int
    indicators: list[str]
    praktik_kinerja: list[dict[str, Any]]
    pengembangan_kompetensi: list[dict[str, Any]]
    competency_points: int
    tugas_tambahan: list[dict[str, Any]]
    perilaku_kerja: dict[str, str]
    rangkuman: str
    target_bulanan: list[dict[str, Any]]
    return_reason: str | None
    history: list[HistoryOut]


class PlansOut(BaseModel):
    plans: list[PlanOut]
    total: int
    page: int
    page_size: int


def _plan_out(p: Plan) -> PlanOut:
    return PlanOut(
        plan_id=p.plan_id, period_id=p.period_id, kind=p.kind, teacher_nip=p.teacher_nip,
        teacher_name=p.teacher_name, school_npsn=p.school_npsn, assessor_nip=p.assessor_nip,
        status=p.status, status_label=p.status_label, revision=p.revision, indicators=p.indicators,
        praktik_kinerja=p.praktik_kinerja, pengembangan_kompetensi=p.pengembangan_kompetensi,
        competency_points=p.competency_points, tugas_tambahan=p.tugas_tambahan,
        perilaku_kerja=p.perilaku_kerja, rangkuman=p.rangkuman, target_bulanan=p.target_bulanan,
        return_reason=p.return_reason,
        history=[HistoryOut(action=h.action, by=h.by, at=h.at.isoformat(), reason=h.reason) for h in p.history],
    )


def _plans_out(found: tuple[list[Plan], int], page: Page) -> PlansOut:
    items, total = found
    return PlansOut(plans=[_plan_out(p) for p in items], total=total, page=page.page, page_size=page.page_size)


_PLAN_NOT_FOUND = (404, "rencana_tidak_ditemukan", "no such plan")
_PLAN_WINDOW = [
    (409, "periode_belum_dibuka", "planning has not started"),
    (409, "batas_perencanaan_terlewat", "after the (late-)planning deadline, 23:59:59 WIB"),
    (409, "periode_sudah_ditutup", "the period is closed"),
]
_STEP_ERRORS = (422, "indikator_tidak_dikenal / indikator_bukan_prioritas / indikator_bukan_kepemimpinan / "
                     "prioritas_sekolah_belum_ditetapkan / perilaku_fokus_* / poin_kegiatan_di_luar_batas / "
                     "target_di_luar_periode / isian_rencana_tidak_ada / ...", "a step that cannot be saved: details.problems lists every problem")
_EDIT = [(409, "rencana_sudah_disepakati", "the plan is agreed"),
         (409, "status_rencana_tidak_sesuai", "submitted: wait for it to be agreed or returned")]


@router.post(
    "/plans", status_code=201, tags=["plans"],
    summary="A guru (or a kepala sekolah, their own) starts a draft plan, optionally with any steps at once",
    responses=_errors(
        _PERIOD_NOT_FOUND, *_PLAN_WINDOW, (409, "rencana_sudah_ada", "already a plan in this period"),
        (409, "penilai_belum_ditetapkan", "no assessor in the roster"), _STEP_ERRORS,
        (403, "tidak_terdaftar_di_roster", "the caller's NIP is not in the roster with that role"),
        (403, "peran_tidak_diizinkan", "not a guru or kepala sekolah"),
    ),
    openapi_extra=access.action_extra(PLAN_CREATE),
)
async def create_plan(body: PlanIn, request: Request, principal: CurrentPrincipal) -> PlanOut:
    steps = body.model_dump(exclude={"period_id"}, exclude_none=True)
    plan = await plans.create_plan(_uow(request), principal, body.period_id, steps, clock=_clock(request))
    return _plan_out(plan)


@router.put(
    "/plans/{plan_id}/steps/{step}", tags=["plans"],
    summary="Save one step of a draft or returned plan: praktik_kinerja, pengembangan_kompetensi, "
            "tugas_tambahan, perilaku_kerja, rangkuman, target_bulanan (body: the step's value)",
    responses=_errors(_PLAN_NOT_FOUND, (404, "langkah_tidak_dikenal", "no such step"), *_PLAN_WINDOW, *_EDIT,
                      _STEP_ERRORS, (403, "akses_ditolak", "not the owner")),
    openapi_extra=access.action_extra(PLAN_EDIT),
)
async def save_step(plan_id: str, request: Request, principal: CurrentPrincipal,
                    step: str = Path(json_schema_extra={"enum": list(domain_plans.STEPS)}),
                    body: Any = Body(None)) -> PlanOut:  # any JSON: the domain checks the step's shape
    require_bounded(body, "body")  # its size, though, here: texts TEXT_MAX, lists LIST_MAX
    return _plan_out(await plans.save_step(_uow(request), principal, plan_id, step, body, clock=_clock(request)))


@router.post(
    "/plans/{plan_id}/submit", tags=["plans"],
    summary="Submit (or resubmit a returned plan): the whole plan is checked and every problem reported at once",
    responses=_errors(_PLAN_NOT_FOUND, *_PLAN_WINDOW, *_EDIT,
                      (422, "rencana_belum_lengkap", "details.problems: [{step, code, message}]"),
                      (403, "akses_ditolak", "not the owner")),
    openapi_extra=access.action_extra(PLAN_EDIT),
)
async def submit_plan(plan_id: str, request: Request, principal: CurrentPrincipal) -> PlanOut:
    return _plan_out(await plans.submit_plan(_uow(request), principal, plan_id, clock=_clock(request)))


_AGREE_WINDOW = [(409, "batas_persetujuan_terlewat", "after the end of execution"),
                 (409, "periode_sudah_ditutup", "the period is closed")]


@router.post(
    "/plans/{plan_id}/approve", tags=["plans"],
    summary="The assessor agrees the plan (disepakati), with their expectation per BerAKHLAK value",
    responses=_errors(_PLAN_NOT_FOUND, *_AGREE_WINDOW,
                      (409, "status_rencana_tidak_sesuai", "not submitted"),
                      (422, "ekspektasi_perilaku_belum_lengkap", "an expectation missing for some BerAKHLAK value"),
                      (403, "bukan_penilai", "not this plan's assessor")),
    openapi_extra=access.action_extra(PLAN_REVIEW),
)
async def approve_plan(plan_id: str, request: Request, principal: CurrentPrincipal,
                       body: ApproveIn | None = None) -> PlanOut:
    expectations = body.perilaku_kerja if body else None
    return _plan_out(await plans.approve_plan(_uow(request), principal, plan_id, expectations, clock=_clock(request)))


@router.post(
    "/plans/{plan_id}/return", tags=["plans"],
    summary="The assessor returns the plan for revision (dikembalikan), with a reason",
    responses=_errors(_PLAN_NOT_FOUND, *_AGREE_WINDOW, (409, "status_rencana_tidak_sesuai", "not submitted"),
                      (422, "alasan_wajib_diisi", "no reason or a blank one"),
                      (403, "bukan_penilai", "not this plan's assessor")),
    openapi_extra=access.action_extra(PLAN_REVIEW),
)
async def return_plan(plan_id: str, request: Request, principal: CurrentPrincipal,
                      body: ReturnIn | None = None) -> PlanOut:
    reason = body.reason if body else None
    return _plan_out(await plans.return_plan(_uow(request), principal, plan_id, reason, clock=_clock(request)))


@router.get(
    "/plans/inbox", tags=["plans"],
    summary="Plans waiting for the caller to agree or return (a principal's guru; a pengawas' principals)",
    responses=_errors((403, "peran_tidak_diizinkan", "not a kepala sekolah or pengawas"),
                      (422, "input_tidak_valid", "page outside 1..100000 or page_size outside 1..200; details name the parameter")),
    openapi_extra=access.action_extra(PLAN_REVIEW),
)
async def plan_inbox(request: Request, principal: CurrentPrincipal, period_id: str | None = Query(None),
                     page: int = PAGE, page_size: int = PAGE_SIZE) -> PlansOut:
    p = Page(page, page_size)
    return _plans_out(await plans.inbox(_uow(request), principal, period_id=period_id, page=p), p)


@router.get(
    "/plans/{plan_id}", tags=["plans"],
    summary="One plan (its owner, its assessor, the kepala sekolah of the school, dinas)",
    responses=_errors(_PLAN_NOT_FOUND, (403, "akses_ditolak", "someone else's plan")),
    openapi_extra=access.action_extra(PLAN_READ),
)
async def get_plan(plan_id: str, request: Request, principal: CurrentPrincipal) -> PlanOut:
    return _plan_out(await plans.get_plan(_uow(request), principal, plan_id))


@router.get(
    "/plans", tags=["plans"],
    summary="Plans the caller may see (guru: own; kepala sekolah: the school's and own; pengawas: those they assess; dinas: all), paginated",
    responses=_errors((403, "peran_tidak_diizinkan", "a role that sees no plans"),
                      (422, "input_tidak_valid", "page outside 1..100000 or page_size outside 1..200; details name the parameter")),
    openapi_extra=access.action_extra(PLAN_READ),
)
async def list_plans(
    request: Request, principal: CurrentPrincipal, period_id: str | None = Query(None),
    npsn: str | None = Query(None), teacher_nip: str | None = Query(None),
    status: str | None = Query(None, json_schema_extra={"enum": [domain_plans.DRAFT, domain_plans.SUBMITTED,
                                                                 domain_plans.APPROVED, domain_plans.RETURNED]}),
    page: int = PAGE, page_size: int = PAGE_SIZE,
) -> PlansOut:
    p = Page(page, page_size)
    found = await plans.list_plans(_uow(request), principal, period_id=period_id, npsn=npsn,
                                   teacher_nip=teacher_nip, status=status, page=p)
    return _plans_out(found, p)


# ------------------------------------------------------------------------ completion


@router.get(
    "/completion/schools/{npsn}", tags=["completion"],
    summary="How many of a school's guru have a plan, by status, and how many were agreed by the planning deadline",
    responses=_errors(_PERIOD_NOT_FOUND, (404, "sekolah_tidak_ditemukan", "no such school"),
                      (403, "akses_ditolak", "another school")),
    openapi_extra=access.action_extra(COMPLETION_READ),
)
async def school_completion(npsn: str, request: Request, principal: CurrentPrincipal,
                            period_id: str = Query(...)) -> dict:
    return await plans.school_completion(_uow(request), principal, npsn, period_id)


@router.get(
    "/completion/districts/{code}", tags=["completion"],
    summary="A district's completion: totals and one row per school, paginated",
    responses=_errors(_PERIOD_NOT_FOUND, (403, "akses_ditolak", "not dinas, or another region")),
    openapi_extra=access.action_extra(DISTRICT_COMPLETION_READ),
)
async def district_completion(code: str, request: Request, principal: CurrentPrincipal,
                              period_id: str = Query(...), page: int = PAGE, page_size: int = PAGE_SIZE) -> dict:
    return await plans.district_completion(_uow(request), principal, code, period_id, Page(page, page_size))
