"""The HTTP API of the planning service (thin: parse, call the use case, shape the JSON)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from kinerja_shared import access
from kinerja_shared.access_rules.planning import (
    DISTRICT_READINESS_READ, PEOPLE_READ, READINESS_READ, ROSTER_IMPORT,
)
from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.body_limits import OWN_BODY_LIMIT, check_json_depth
from kinerja_shared.csv_export import write_csv
from kinerja_shared.errors import AppError
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.adapters.tables import Person, School
from kinerja_planning.domain import roster as domain_roster
from kinerja_planning.service_layer import readiness, roster

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

_ROSTER_COLUMNS = {
    name: {"type": ["string", "null"]}
    for name in (*domain_roster.COLUMNS, *domain_roster.OPTIONAL_COLUMNS)
}
_CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["rows"],
                    "additionalProperties": False,
                    "properties": {"rows": {"type": "array", "items": {
                        "type": "object", "additionalProperties": False, "properties": _ROSTER_COLUMNS,
                    }}},
                },
                "example": {"rows": [{
                    "npsn": "20212345", "school_name": "SD Negeri 1 Cibinong", "school_jenjang": "SD",
                    "school_status": "Negeri", "region_code": "020500", "province_code": "020000",
                    "nip": "198503122010012001", "nuptk": "1234567890123456", "nik": "3201015203850002",
                    "name": "Dewi Lestari, S.Pd.", "role": "guru", "jenis_ptk": "Guru Kelas",
                    "jabatan": "Guru Kelas", "jenjang": "Ahli Muda", "golongan": "III/c",
                    "asn_status": "PNS", "assessor_nip": "197204151998022001",
                }]},
            },
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
    left: int = Field(0, description="people who left a school the (complete) file lists")
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
    elif content_type in ("text/csv", "text/plain", "application/csv", "application/octet-stream", "application/json"):
        data = await _read_limited(request.stream(), limit)
    else:
        raise AppError(
            "jenis_konten_tidak_didukung",
            "Kirim roster sebagai text/csv, application/json atau multipart/form-data (kolom 'file').",
            "Send the roster as text/csv, application/json or multipart/form-data (field 'file').",
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
    summary="Import a roster: CSV (raw text/csv body, or multipart field 'file') or JSON {rows: [...]}",
    description="Every line is validated first; if any line is bad nothing is imported and "
    "the answer lists every bad line (CSV: line 1 is the header; JSON: the row's 1-based position, "
    "0 the document). JSON rows are objects keyed by the CSV column names. With `complete=true` the "
    "file is the whole roster of every school it lists: people stored there and absent from the file "
    "leave (`left`). Roles: dinas, operator_dinas, operator_sekolah (own NPSN only).",
    openapi_extra={**_CSV_BODY, **access.action_extra(ROSTER_IMPORT)},
    max_body_size=OWN_BODY_LIMIT,  # KINERJA_ROSTER_MAX_BYTES, read below
    responses=_errors(
        (422, "roster_tidak_valid", "bad lines, see details[].line/nip/problems"),
        (422, "berkas_wajib_diisi", "no file or an empty file"),
        (422, "input_tidak_valid", "a JSON body that is not JSON"),
        (422, "json_terlalu_bersarang", "JSON nested deeper than 32 levels"),
        (413, "berkas_terlalu_besar", "over KINERJA_ROSTER_MAX_BYTES"),
        (415, "jenis_konten_tidak_didukung", "not text/csv, application/json or multipart/form-data"),
        (403, "peran_tidak_diizinkan", "not dinas, operator_dinas or operator_sekolah"),
        (409, "impor_bersamaan", "a concurrent import touched the same people"),
    ),
)
async def import_roster(
    request: Request, principal: CurrentPrincipal,
    complete: bool = Query(False, description="the file is the whole roster of each school it lists"),
) -> ImportOut:
    # Refuse the wrong role before reading a large body.
    roster.may_import(principal)
    data = await _roster_bytes(request)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
        check_json_depth(data)  # json.loads recurses: a deep document was a RecursionError, a 500
        try:
            document = json.loads(data)
        except ValueError as exc:  # also bytes that are not UTF-8
            raise AppError(
                "input_tidak_valid", f"Badan permintaan bukan JSON yang valid: {exc}",
                f"The body is not valid JSON: {exc}", status_code=422,
            ) from None
        result = await roster.import_roster_json(_uow(request), principal, document, complete=complete)
    else:
        result = await roster.import_roster(_uow(request), principal, data, complete=complete)
    return ImportOut(
        import_id=result.import_id, schools=result.schools, people=result.people, added=result.added,
        changed=result.changed, moved=result.moved, unchanged=result.unchanged, left=result.left,
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
    nuptk: str = ""
    nik: str = ""
    jenis_ptk: str = ""


class SchoolPeopleOut(BaseModel):
    npsn: str
    name: str
    region_code: str
    jenjang: str = ""
    status: str = ""
    province_code: str = ""
    people: list[PersonOut]


def _person_out(p: Person) -> PersonOut:
    return PersonOut(
        nip=p.nip, name=p.name, role=p.role, jabatan=p.jabatan, jenjang=p.jenjang,
        golongan=p.golongan, asn_status=p.asn_status, assessor_nip=p.assessor_nip,
        nuptk=p.nuptk, nik=p.nik, jenis_ptk=p.jenis_ptk,
    )


@router.get(
    "/schools/{npsn}/people",
    tags=["roster"],
    summary="A school's people (kepala sekolah and operator of that school, dinas)",
    responses=_errors(
        (404, "sekolah_tidak_ditemukan", "no such school"),
        (403, "akses_ditolak", "another school"),
    ),
    openapi_extra=access.action_extra(PEOPLE_READ),
)
async def school_people(npsn: str, request: Request, principal: CurrentPrincipal) -> SchoolPeopleOut:
    school, people = await roster.school_people(_uow(request), principal, npsn)
    return _school_out(school, people)


@router.get(
    "/schools/{npsn}/people.csv",
    tags=["roster"],
    summary="A school's people as a roster CSV (the import's columns), formulas neutralised",
    description="For a spreadsheet: every cell quoted, and a cell a spreadsheet would run as a formula "
    "(starting with =, +, -, @, tab or carriage return) prefixed with a single quote. The stored "
    "values are unchanged (the JSON form shows them as given). Same access as the JSON form.",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
               **_errors((404, "sekolah_tidak_ditemukan", "no such school"), (403, "akses_ditolak", "another school"))},
    response_class=Response,
    openapi_extra=access.action_extra(PEOPLE_READ),
)
async def school_people_csv(npsn: str, request: Request, principal: CurrentPrincipal) -> Response:
    school, people = await roster.school_people(_uow(request), principal, npsn)
    rows = [
        (school.npsn, school.name, school.region_code, p.nip, p.name, p.role, p.jabatan, p.jenjang, p.golongan,
         p.asn_status, p.assessor_nip or "", school.jenjang, school.status, school.province_code, p.nuptk, p.nik,
         p.jenis_ptk)
        for p in people
    ]
    return Response(
        write_csv((*domain_roster.COLUMNS, *domain_roster.OPTIONAL_COLUMNS), rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="roster-{school.npsn}.csv"'},
    )


def _school_out(school: School, people: list[Person]) -> SchoolPeopleOut:
    return SchoolPeopleOut(
        npsn=school.npsn, name=school.name, region_code=school.region_code, jenjang=school.jenjang,
        status=school.status, province_code=school.province_code, people=[_person_out(p) for p in people],
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
    openapi_extra=access.action_extra(READINESS_READ),
)
async def school_readiness(npsn: str, request: Request, principal: CurrentPrincipal) -> SchoolReadinessOut:
    return SchoolReadinessOut(**await readiness.school_readiness(_uow(request), principal, npsn))


@router.get(
    "/readiness/districts/{code}",
    tags=["readiness"],
    summary="A district's readiness: counts per actor, and the issues of every school not ready",
    responses=_errors((403, "akses_ditolak", "not dinas, or a dinas token of another district")),
    openapi_extra=access.action_extra(DISTRICT_READINESS_READ),
)
async def district_readiness(code: str, request: Request, principal: CurrentPrincipal) -> DistrictReadinessOut:
    return DistrictReadinessOut(**await readiness.district_readiness(_uow(request), principal, code))
