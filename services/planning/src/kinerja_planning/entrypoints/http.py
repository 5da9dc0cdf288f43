"""The HTTP API of the planning service (thin: parse, call the use case, shape the JSON)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.errors import AppError
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.adapters.tables import Period, Person, School
from kinerja_planning.domain.plans import Plan
from kinerja_planning.service_layer import periods, plans, readiness, roster

router = APIRouter(prefix="/v1")


def _uow(request: Request) -> UnitOfWorkFactory:
    return request.app.state.runtime.uow


def _errors(*items: tuple[int, str, str]) -> dict:
    responses: dict[int, dict] = {}
    for status, code, text in items:
        entry = responses.setdefault(status, {"description": ""})
        entry["description"] += ("; " if entry["description"] else "") + f"`{code}`: {text}"
    return responses


# ------------------------------------------------------------------------ roster

_CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


class ImportOut(BaseModel):
    import_id: str
    schools: int
    people: int
    added: int = Field(0, description="people new to the roster")
    changed: int = Field(0, description="people whose data changed, same school")
    moved: int = Field(0, description="people who moved school")
    unchanged: int = Field(0, description="lines identical to the stored roster (nothing written)")
    published_schools: int = Field(0, description="schools whose RosterImported snapshot was published")


async def _read_limited(chunks, limit: int) -> bytes:
    data = bytearray()
    async for chunk in chunks:
        data.extend(chunk)
        if len(data) > limit:
            raise AppError(
                "berkas_terlalu_besar",
                f"Berkas roster lebih dari {limit} byte.",
                f"The roster file is larger than {limit} bytes.",
                status_code=413,
            )
    return bytes(data)


async def _upload_chunks(upload: UploadFile):
    while chunk := await upload.read(64 * 1024):
        yield chunk


async def _roster_bytes(request: Request) -> bytes:
    limit = request.app.state.settings.roster_max_bytes
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form(max_files=1) as form:
            file = form.get("file")
            if isinstance(file, UploadFile):
                data = await _read_limited(_upload_chunks(file), limit)
            elif isinstance(file, str):
                data = await _read_limited(_one(file.encode()), limit)
            else:
                raise AppError(
                    "berkas_wajib_diisi",
                    "Lampirkan berkas roster pada kolom 'file'.",
                    "Attach the roster in the multipart field 'file'.",
                    status_code=422,
                )
    elif content_type in ("text/csv", "text/plain", "application/csv", "application/octet-stream"):
        data = await _read_limited(request.stream(), limit)
    else:
        raise AppError(
            "jenis_konten_tidak_didukung",
            "Kirim roster sebagai text/csv atau multipart/form-data (kolom 'file').",
            "Send the roster as text/csv or multipart/form-data (field 'file').",
            status_code=415,
        )
    if not data.strip():
        raise AppError(
            "berkas_wajib_diisi", "Berkas roster kosong.", "The roster file is empty.", status_code=422
        )
    return data


async def _one(data: bytes):
    yield data


@router.post(
    "/roster/imports",
    status_code=201,
    tags=["roster"],
    summary="Import a roster CSV (raw text/csv body, or multipart field 'file')",
    description="Every line is validated first; if any line is bad nothing is imported and "
    "the answer lists every bad line. Roles: dinas, operator_dinas, operator_sekolah (own NPSN only).",
    openapi_extra=_CSV_BODY,
    responses=_errors(
        (422, "roster_tidak_valid", "bad lines, see details[].line/nip/problems"),
        (422, "berkas_wajib_diisi", "no file or an empty file"),
        (413, "berkas_terlalu_besar", "over KINERJA_ROSTER_MAX_BYTES"),
        (415, "jenis_konten_tidak_didukung", "neither text/csv nor multipart/form-data"),
        (403, "peran_tidak_diizinkan", "not dinas, operator_dinas or operator_sekolah"),
        (409, "impor_bersamaan", "a concurrent import touched the same people"),
    ),
)
async def import_roster(request: Request, principal: CurrentPrincipal) -> ImportOut:
    # Refuse the wrong role before reading a large body.
    principal.require_role(*roster.IMPORT_ROLES)
    data = await _roster_bytes(request)
    result = await roster.import_roster(_uow(request), principal, data)
    return ImportOut(
        import_id=result.import_id, schools=result.schools, people=result.people, added=result.added,
        changed=result.changed, moved=result.moved, unchanged=result.unchanged,
        published_schools=result.published_schools,
    )


class PersonOut(BaseModel):
    nip: str
    name: str
    role: str
    jabatan: str
    jenjang: str
    golongan: str
    asn_status: str
    assessor_nip: str | None


class SchoolPeopleOut(BaseModel):
    npsn: str
    name: str
    region_code: str
    people: list[PersonOut]


def _person_out(p: Person) -> PersonOut:
    return PersonOut(
        nip=p.nip, name=p.name, role=p.role, jabatan=p.jabatan, jenjang=p.jenjang,
        golongan=p.golongan, asn_status=p.asn_status, assessor_nip=p.assessor_nip,
    )


@router.get(
    "/schools/{npsn}/people",
    tags=["roster"],
    summary="A school's people (kepala sekolah and operator of that school, dinas)",
    responses=_errors(
        (404, "sekolah_tidak_ditemukan", "no such school"),
        (403, "akses_ditolak", "another school"),
    ),
)
async def school_people(npsn: str, request: Request, principal: CurrentPrincipal) -> SchoolPeopleOut:
    school, people = await roster.school_people(_uow(request), principal, npsn)
    return _school_out(school, people)


def _school_out(school: School, people: list[Person]) -> SchoolPeopleOut:
    return SchoolPeopleOut(
        npsn=school.npsn, name=school.name, region_code=school.region_code,
        people=[_person_out(p) for p in people],
    )


# ------------------------------------------------------------------------ readiness


class IssueOut(BaseModel):
    code: str = Field(examples=["tim_kinerja_tidak_ada"])
    message: str
    actor: str = Field(description="who must fix it: operator_sekolah, operator_dinas or bkd")
    nip: str | None = None
    name: str | None = None


class SchoolReadinessOut(BaseModel):
    npsn: str
    name: str
    region_code: str
    people: int
    ready: bool
    by_actor: dict[str, int]
    issues: list[IssueOut]


class DistrictReadinessOut(BaseModel):
    region_code: str
    schools: int
    schools_ready: int
    people: int
    by_actor: dict[str, int]
    not_ready: list[SchoolReadinessOut]


@router.get(
    "/readiness/schools/{npsn}",
    tags=["readiness"],
    summary="What in a school's roster blocks planning, and who must fix it",
    responses=_errors(
        (404, "sekolah_tidak_ditemukan", "no such school"),
        (403, "akses_ditolak", "another school"),
    ),
)
async def school_readiness(npsn: str, request: Request, principal: CurrentPrincipal) -> SchoolReadinessOut:
    return SchoolReadinessOut(**await readiness.school_readiness(_uow(request), principal, npsn))


@router.get(
    "/readiness/districts/{code}",
    tags=["readiness"],
    summary="A district's readiness: counts per actor, and the issues of every school not ready",
    responses=_errors((403, "akses_ditolak", "not dinas, or a dinas token of another district")),
)
async def district_readiness(code: str, request: Request, principal: CurrentPrincipal) -> DistrictReadinessOut:
    return DistrictReadinessOut(**await readiness.district_readiness(_uow(request), principal, code))


# ------------------------------------------------------------------------ periods


class PeriodIn(BaseModel):
    policy: str = Field(examples=["pmm-2024"])
    year: int = Field(examples=[2026])
    semester: int | None = Field(default=None, examples=[1])


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


class PeriodsOut(BaseModel):
    periods: list[PeriodOut]


def _period_out(p: Period) -> PeriodOut:
    return PeriodOut(
        period_id=p.period_id, policy=p.policy, year=p.year, semester=p.semester, name=p.name,
        starts_on=p.starts_on.isoformat(), ends_on=p.ends_on.isoformat(),
        month_start=p.month_start, month_end=p.month_end, status=p.status,
    )


_PERIOD_NOT_FOUND = (404, "periode_tidak_ditemukan", "no such period")
_MANAGE_ONLY = (403, "peran_tidak_diizinkan", "not dinas or operator_dinas")


@router.post(
    "/periods",
    status_code=201,
    tags=["periods"],
    summary="Create a period (status scheduled)",
    responses=_errors(
        (422, "kebijakan_tidak_dikenal", "unknown policy"),
        (422, "semester_tidak_valid", "semester not 1 or 2"),
        (422, "tahun_tidak_valid", "year outside 2000-2100"),
        (409, "periode_sudah_ada", "same policy, year and semester exists"),
        _MANAGE_ONLY,
    ),
)
async def create_period(body: PeriodIn, request: Request, principal: CurrentPrincipal) -> PeriodOut:
    period = await periods.create_period(_uow(request), principal, body.policy, body.year, body.semester)
    return _period_out(period)


@router.get("/periods", tags=["periods"], summary="All periods, newest year first")
async def list_periods(request: Request, principal: CurrentPrincipal) -> PeriodsOut:
    return PeriodsOut(periods=[_period_out(p) for p in await periods.list_periods(_uow(request))])


@router.get("/periods/{period_id}", tags=["periods"], responses=_errors(_PERIOD_NOT_FOUND))
async def get_period(period_id: str, request: Request, principal: CurrentPrincipal) -> PeriodOut:
    return _period_out(await periods.get_period(_uow(request), period_id))


_WRONG_PERIOD_STATUS = (409, "status_periode_tidak_sesuai", "the period cannot move to that status")


@router.post(
    "/periods/{period_id}/open",
    tags=["periods"],
    summary="Open a scheduled period (publishes PeriodOpened); opening an open period is a no-op",
    responses=_errors(_PERIOD_NOT_FOUND, _WRONG_PERIOD_STATUS, _MANAGE_ONLY),
)
async def open_period(period_id: str, request: Request, principal: CurrentPrincipal) -> PeriodOut:
    return _period_out(await periods.open_period(_uow(request), principal, period_id))


@router.post(
    "/periods/{period_id}/close",
    tags=["periods"],
    summary="Close an open period; closing a closed period is a no-op",
    responses=_errors(_PERIOD_NOT_FOUND, _WRONG_PERIOD_STATUS, _MANAGE_ONLY),
)
async def close_period(period_id: str, request: Request, principal: CurrentPrincipal) -> PeriodOut:
    return _period_out(await periods.close_period(_uow(request), principal, period_id))


# ------------------------------------------------------------------------ plans


class PlanIn(BaseModel):
    period_id: str
    indicators: list[str] = Field(default_factory=list, examples=[["A.1", "D.1"]])
    summary: str | None = None


class ResubmitIn(BaseModel):
    indicators: list[str] = Field(default_factory=list)
    summary: str | None = None


class ReturnIn(BaseModel):
    reason: str | None = None


class HistoryOut(BaseModel):
    action: str
    by: str
    at: str
    reason: str | None


class PlanOut(BaseModel):
    plan_id: str
    period_id: str
    teacher_nip: str
    teacher_name: str
    school_npsn: str
    assessor_nip: str
    indicators: list[str]
    summary: str
    status: str
    status_label: str
    revision: int
    return_reason: str | None
    history: list[HistoryOut]


class PlansOut(BaseModel):
    plans: list[PlanOut]


def _plan_out(p: Plan) -> PlanOut:
    return PlanOut(
        plan_id=p.plan_id, period_id=p.period_id, teacher_nip=p.teacher_nip,
        teacher_name=p.teacher_name, school_npsn=p.school_npsn, assessor_nip=p.assessor_nip,
        indicators=p.indicators, summary=p.summary, status=p.status, status_label=p.status_label,
        revision=p.revision, return_reason=p.return_reason,
        history=[HistoryOut(action=h.action, by=h.by, at=h.at.isoformat(), reason=h.reason) for h in p.history],
    )


_PLAN_NOT_FOUND = (404, "rencana_tidak_ditemukan", "no such plan")
_PERIOD_CLOSED = (409, "periode_sudah_ditutup", "the period is closed")
_WRONG_PLAN_STATUS = (409, "status_rencana_tidak_sesuai", "the plan is not in a status that allows this")
_BAD_INDICATORS = [
    (422, "indikator_wajib_diisi", "no indicator"),
    (422, "indikator_tidak_dikenal", "an indicator outside the Rapor Pendidikan list"),
    (422, "ringkasan_terlalu_panjang", "summary over 5000 characters"),
]


@router.post(
    "/plans",
    status_code=201,
    tags=["plans"],
    summary="A guru submits their plan (SKP) for an open period",
    responses=_errors(
        (404, "periode_tidak_ditemukan", "no such period"),
        (409, "periode_belum_dibuka", "the period is still scheduled"),
        _PERIOD_CLOSED,
        (409, "rencana_sudah_ada", "this teacher already has a plan in this period"),
        *_BAD_INDICATORS,
        (403, "guru_tidak_terdaftar", "the caller's NIP is not a guru in the roster"),
        (403, "peran_tidak_diizinkan", "not a guru"),
    ),
)
async def submit_plan(body: PlanIn, request: Request, principal: CurrentPrincipal) -> PlanOut:
    plan = await plans.submit_plan(_uow(request), principal, body.period_id, body.indicators, body.summary)
    return _plan_out(plan)


@router.post(
    "/plans/{plan_id}/resubmit",
    tags=["plans"],
    summary="The owner resubmits a returned plan (revision + 1)",
    responses=_errors(
        _PLAN_NOT_FOUND, _WRONG_PLAN_STATUS, _PERIOD_CLOSED, *_BAD_INDICATORS,
        (403, "akses_ditolak", "not the plan's owner"),
    ),
)
async def resubmit_plan(plan_id: str, body: ResubmitIn, request: Request, principal: CurrentPrincipal) -> PlanOut:
    plan = await plans.resubmit_plan(_uow(request), principal, plan_id, body.indicators, body.summary)
    return _plan_out(plan)


@router.post(
    "/plans/{plan_id}/approve",
    tags=["plans"],
    summary="The teacher's assessor agrees the plan (disepakati)",
    responses=_errors(
        _PLAN_NOT_FOUND, _WRONG_PLAN_STATUS, _PERIOD_CLOSED,
        (403, "bukan_penilai", "not this teacher's assessor"),
    ),
)
async def approve_plan(plan_id: str, request: Request, principal: CurrentPrincipal) -> PlanOut:
    return _plan_out(await plans.approve_plan(_uow(request), principal, plan_id))


@router.post(
    "/plans/{plan_id}/return",
    tags=["plans"],
    summary="The teacher's assessor returns the plan for revision (dikembalikan), with a reason",
    responses=_errors(
        _PLAN_NOT_FOUND, _WRONG_PLAN_STATUS, _PERIOD_CLOSED,
        (422, "alasan_wajib_diisi", "no reason or a blank one"),
        (403, "bukan_penilai", "not this teacher's assessor"),
    ),
)
async def return_plan(
    plan_id: str, request: Request, principal: CurrentPrincipal, body: ReturnIn | None = None
) -> PlanOut:
    reason = body.reason if body else None
    return _plan_out(await plans.return_plan(_uow(request), principal, plan_id, reason))


@router.get(
    "/plans/{plan_id}",
    tags=["plans"],
    summary="One plan (its owner, the kepala sekolah of the school, dinas)",
    responses=_errors(_PLAN_NOT_FOUND, (403, "akses_ditolak", "someone else's plan")),
)
async def get_plan(plan_id: str, request: Request, principal: CurrentPrincipal) -> PlanOut:
    return _plan_out(await plans.get_plan(_uow(request), principal, plan_id))


@router.get(
    "/plans",
    tags=["plans"],
    summary="Plans the caller may see (guru: own; kepala sekolah: the school's; dinas: all)",
    responses=_errors((403, "peran_tidak_diizinkan", "a role that sees no plans")),
)
async def list_plans(
    request: Request,
    principal: CurrentPrincipal,
    period_id: str | None = Query(None),
    npsn: str | None = Query(None),
    teacher_nip: str | None = Query(None),
) -> PlansOut:
    found = await plans.list_plans(
        _uow(request), principal, period_id=period_id, npsn=npsn, teacher_nip=teacher_nip
    )
    return PlansOut(plans=[_plan_out(p) for p in found])
