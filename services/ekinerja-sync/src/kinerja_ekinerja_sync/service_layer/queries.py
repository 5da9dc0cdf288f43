"""Reading the sync log; who may read what is the shared access policy
(kinerja_shared.access_rules.ekinerja_sync):

- a teacher's log: the guru themself, the kepala sekolah of the school a record belongs to, the
  Dinas whose region covers the record's district (a district code, or a province ``xx0000``);
- a school's log: its kepala sekolah, the Dinas of its region;
- a district's log and the records by status (the operators' list): the Dinas of the region.

A log whose records the caller may see none of is refused (403), not shown empty; a list shows
only what the caller may see. A dinas token without a region sees nothing (403
``cakupan_tidak_ada``), never the whole country.

Every log holds all kinds of records (final results, agreed plans, periodic reviews), each with
its ``kind``; ``kind=`` narrows it to one.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import and_, col, or_, select

from kinerja_shared import access
from kinerja_shared.access_rules import ekinerja_sync as actions
from kinerja_shared.auth import Principal
from kinerja_shared.errors import AppError, Forbidden
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_ekinerja_sync.adapters.tables import SyncAttempt, SyncRecord
from kinerja_ekinerja_sync.domain import model

# Where a sync record lives, for the policy's WHERE clause.
COLUMNS = access.Columns(owner_nip=SyncRecord.teacher_nip, npsn=SyncRecord.school_npsn, region=SyncRecord.region)


def _forbidden(message: str, message_en: str) -> Forbidden:
    return Forbidden("akses_log_sinkronisasi_ditolak", message, message_en)


def visible(principal: Principal, action: str):
    """The records ``principal`` may see under ``action`` (a WHERE clause)."""
    return access.scope_filter(principal, action, COLUMNS)


def _place(r: SyncRecord) -> access.Resource:
    return access.Resource(npsn=r.school_npsn, region=r.region, owner_nip=r.teacher_nip)


async def _log_of(session, principal: Principal, action: str, where, order, kind: str | None,
                  refused: Forbidden) -> list[SyncRecord]:
    """A log's records the caller may see; refused when there are records and none of them is.
    One query, filtered here: two (the visible ones, then whether any exist) would refuse a
    caller when a record arrives between them."""
    records = (await session.exec(_of_kind(select(SyncRecord).where(where).order_by(*order), kind))).all()
    mine = [r for r in records if access.allows(principal, action, _place(r))]
    if records and not mine:
        raise refused
    return mine


def _check_nip(nip: str) -> None:
    # PPPK numbers are 18 digits too, so only the shape is checked here.
    if len(nip) != 18 or not nip.isdigit():
        raise AppError("nip_tidak_valid", "NIP harus 18 digit angka.", "A NIP is 18 digits.", status_code=400)


def _check_npsn(npsn: str) -> None:
    if len(npsn) != 8 or not npsn.isdigit():
        raise AppError("npsn_tidak_valid", "NPSN harus 8 digit angka.", "An NPSN is 8 digits.", status_code=400)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in model.KINDS:
        raise AppError(
            "jenis_rekaman_tidak_dikenal", f"Jenis rekaman '{kind}' tidak dikenal.", f"Unknown record kind '{kind}'.",
            status_code=400, details={"allowed": list(model.KINDS)},
        )


def _of_kind(query, kind: str | None):
    return query.where(SyncRecord.kind == kind) if kind is not None else query


async def teacher_log(
    uow_factory: UnitOfWorkFactory, principal: Principal, nip: str, kind: str | None = None,
) -> dict[str, Any]:
    _check_nip(nip)
    _check_kind(kind)
    relations = access.require_action(principal, actions.TEACHER_LOG_READ)
    if relations == {"self"} and not access.allows(principal, actions.TEACHER_LOG_READ, access.Resource(owner_nip=nip)):
        # Said before looking: whether another teacher has records is not a guru's business.
        raise _forbidden("Guru hanya dapat melihat log sinkronisasinya sendiri.",
                         "A teacher may read only their own sync log.")
    async with uow_factory() as uow:
        records = await _log_of(
            uow.session, principal, actions.TEACHER_LOG_READ, SyncRecord.teacher_nip == nip,
            (SyncRecord.created_at, SyncRecord.assessment_version), kind,
            _forbidden("Log sinkronisasi guru ini di luar sekolah atau wilayah Anda.",
                       "This teacher's sync log is outside your school or region."))
        return {"teacher_nip": nip, "records": await _with_attempts(uow.session, records)}


async def school_log(
    uow_factory: UnitOfWorkFactory, principal: Principal, npsn: str, kind: str | None = None,
) -> dict[str, Any]:
    _check_npsn(npsn)
    _check_kind(kind)
    relations = access.require_action(principal, actions.SCHOOL_LOG_READ)
    if relations == {"school"} and not access.allows(principal, actions.SCHOOL_LOG_READ, access.Resource(npsn=npsn)):
        raise _forbidden("Kepala sekolah hanya dapat melihat log sekolahnya sendiri.",
                         "A principal may read only their own school's log.")
    async with uow_factory() as uow:
        records = await _log_of(
            uow.session, principal, actions.SCHOOL_LOG_READ, SyncRecord.school_npsn == npsn,
            (SyncRecord.teacher_nip, SyncRecord.kind, SyncRecord.assessment_version), kind,
            _forbidden("Sekolah ini di luar wilayah Anda.", "This school is outside your region."))
        return {"school_npsn": npsn, "records": await _with_attempts(uow.session, records)}


def _check_region(region: str) -> None:
    if len(region) != 6 or not region.isdigit():
        raise AppError("wilayah_tidak_valid", "Kode wilayah harus 6 digit angka.", "A region code is 6 digits.",
                       status_code=400)


async def district_log(
    uow_factory: UnitOfWorkFactory, principal: Principal, region: str, status: str | None, limit: int,
    before: str | None = None, kind: str | None = None,
) -> dict[str, Any]:
    """A district's (or, for xx0000, a province's) sync log, newest change first, paged by
    ``before`` (the ``next_before`` of the previous page)."""
    _check_region(region)
    _check_kind(kind)
    access.require_action(principal, actions.DISTRICT_LOG_READ)
    if not access.allows(principal, actions.DISTRICT_LOG_READ, access.Resource(region=region)):
        raise _forbidden("Wilayah ini di luar wilayah Anda.", "This region is outside yours.")
    if status is not None and status not in model.STATUSES:
        raise AppError(
            "status_tidak_dikenal", f"Status '{status}' tidak dikenal.", f"Unknown status '{status}'.",
            status_code=400, details={"allowed": list(model.STATUSES)},
        )
    cursor = None
    if before is not None:
        # "<updated_at ISO>|<record id>": many records share one updated_at (outcomes are
        # written in batches), so the id breaks ties.
        at, _, record_id = before.partition("|")
        try:
            cursor = (datetime.fromisoformat(at), record_id)
        except ValueError:
            cursor = None
        # A time without an offset cannot be compared with the stored UTC times (a 500 on
        # PostgreSQL before): the previous page's next_before always carries one.
        if cursor is None or cursor[0].tzinfo is None:
            raise AppError("kursor_tidak_valid",
                           "Parameter 'before' harus next_before dari halaman sebelumnya (waktu ISO 8601 dengan zona waktu).",
                           "'before' must be the next_before of the previous page (ISO 8601 with a timezone).",
                           status_code=422)
    async with uow_factory() as uow:
        query = select(SyncRecord).order_by(col(SyncRecord.updated_at).desc(), col(SyncRecord.id).desc()).limit(limit)
        if region.endswith("0000"):
            query = query.where(col(SyncRecord.region).startswith(region[:2]))
        else:
            query = query.where(SyncRecord.region == region)
        if status is not None:
            query = query.where(SyncRecord.status == status)
        query = _of_kind(query, kind)
        if cursor is not None:
            query = query.where(or_(
                col(SyncRecord.updated_at) < cursor[0],
                and_(col(SyncRecord.updated_at) == cursor[0], col(SyncRecord.id) < cursor[1]),
            ))
        records = (await uow.session.exec(query)).all()
        by_status: dict[str, int] = {}
        count_query = select(SyncRecord.status, func.count()).group_by(SyncRecord.status)
        count_query = (count_query.where(col(SyncRecord.region).startswith(region[:2])) if region.endswith("0000")
                       else count_query.where(SyncRecord.region == region))
        count_query = _of_kind(count_query, kind)
        for name, n in (await uow.session.exec(count_query)).all():
            by_status[name] = n
        return {
            "region": region,
            "status": status,
            "kind": kind,
            "counts": by_status,
            "records": await _with_attempts(uow.session, records),
            "next_before": f"{records[-1].updated_at.isoformat()}|{records[-1].id}" if len(records) == limit else None,
        }


async def records_by_status(
    uow_factory: UnitOfWorkFactory, principal: Principal, status: str | None, limit: int, kind: str | None = None,
) -> dict[str, Any]:
    access.require_action(principal, actions.SYNC_RECORD_READ)
    if status is not None and status not in model.STATUSES:
        raise AppError(
            "status_tidak_dikenal", f"Status '{status}' tidak dikenal.", f"Unknown status '{status}'.",
            status_code=400, details={"allowed": list(model.STATUSES)},
        )
    _check_kind(kind)
    async with uow_factory() as uow:
        query = (select(SyncRecord).where(visible(principal, actions.SYNC_RECORD_READ))
                 .order_by(SyncRecord.updated_at.desc()).limit(limit))  # type: ignore[attr-defined]
        if status is not None:
            query = query.where(SyncRecord.status == status)
        query = _of_kind(query, kind)
        records = list((await uow.session.exec(query)).all())
        return {"status": status, "kind": kind, "records": await _with_attempts(uow.session, records)}


async def _with_attempts(session, records: list[SyncRecord]) -> list[dict[str, Any]]:
    by_record: dict[str, list[SyncAttempt]] = defaultdict(list)
    if records:
        attempts = (
            await session.exec(
                select(SyncAttempt).where(SyncAttempt.record_id.in_([r.id for r in records]))  # type: ignore[attr-defined]
                .order_by(SyncAttempt.attempt, SyncAttempt.id)
            )
        ).all()
        for a in attempts:
            by_record[a.record_id].append(a)
    return [_record_json(r, by_record[r.id]) for r in records]


def _record_json(r: SyncRecord, attempts: list[SyncAttempt]) -> dict[str, Any]:
    plan = r.kind == model.PLAN
    return {
        # hasil: a final result; skp: an agreed plan; review_periodik: a periodic review.
        "kind": r.kind,
        # What POST /v1/sync-records/{key}/retry takes: the assessment id (hasil), the plan id
        # (skp), "<assessment id>:<review>" (review_periodik).
        "key": r.assessment_id,
        # The assessment's version (hasil), the plan's revision (skp), the review's recording.
        "version": r.assessment_version,
        "assessment_id": None if plan else r.subject_id,
        "assessment_version": r.assessment_version if r.kind == model.RESULT else None,
        "plan_id": r.assessment_id if plan else None,
        "plan_revision": r.assessment_version if plan else None,
        "review": r.review,
        "teacher_nip": r.teacher_nip,
        "school_npsn": r.school_npsn,
        "region": r.region,
        "period": {"year": r.year, "month_start": r.month_start, "month_end": r.month_end},
        "status": r.status,
        "ekinerja_record_id": r.ekinerja_record_id,
        "message": r.last_message,
        "responsible_actor": r.responsible_actor,
        "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
        "attempts": [
            {
                "attempt": a.attempt,
                "at": a.at.isoformat(),
                "outcome": a.outcome,
                "http_status": a.http_status,
                "message": a.message,
                "responsible_actor": a.responsible_actor,
            }
            for a in attempts
        ],
    }
