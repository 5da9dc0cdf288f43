"""Reading the sync log, with who may read what.

- a teacher's log: the guru themself, the kepala sekolah of the school the record belongs to,
  dinas (dinas, operator_dinas, sistem; a dinas user with a region sees only that region, or
  that province when the region ends in 0000);
- a school's log: its kepala sekolah, dinas;
- records by status (the operators' list): dinas.

Every log holds all kinds of records (final results, agreed plans, periodic reviews), each with
its ``kind``; ``kind=`` narrows it to one.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import and_, col, or_, select

from kinerja_shared.auth import Principal
from kinerja_shared.errors import AppError, Forbidden
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_ekinerja_sync.adapters.tables import SyncAttempt, SyncRecord
from kinerja_ekinerja_sync.domain import model

DINAS_ROLES = ("dinas", "operator_dinas", "sistem")


def _forbidden(message: str, message_en: str) -> Forbidden:
    return Forbidden("akses_log_sinkronisasi_ditolak", message, message_en)


def _in_region(principal: Principal, region: str) -> bool:
    if principal.role == "sistem" or not principal.region:
        return True
    if principal.region.endswith("0000"):  # a province
        return region[:2] == principal.region[:2]
    return region == principal.region


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
    if principal.role == "guru":
        if principal.nip != nip:
            raise _forbidden("Guru hanya dapat melihat log sinkronisasinya sendiri.",
                             "A teacher may read only their own sync log.")
    elif principal.role not in ("kepala_sekolah", *DINAS_ROLES):
        raise _forbidden(f"Peran '{principal.role}' tidak dapat melihat log sinkronisasi guru.",
                         f"Role '{principal.role}' may not read a teacher's sync log.")
    async with uow_factory() as uow:
        records = (
            await uow.session.exec(_of_kind(
                select(SyncRecord).where(SyncRecord.teacher_nip == nip)
                .order_by(SyncRecord.created_at, SyncRecord.assessment_version), kind,
            ))
        ).all()
        if principal.role == "kepala_sekolah":
            mine = [r for r in records if r.school_npsn == principal.npsn]
            if records and not mine:
                raise _forbidden("Guru ini bukan guru di sekolah Anda.", "This teacher is not in your school.")
            records = mine
        elif principal.role in DINAS_ROLES:
            records = [r for r in records if _in_region(principal, r.region)]
        return {"teacher_nip": nip, "records": await _with_attempts(uow.session, records)}


async def school_log(
    uow_factory: UnitOfWorkFactory, principal: Principal, npsn: str, kind: str | None = None,
) -> dict[str, Any]:
    _check_npsn(npsn)
    _check_kind(kind)
    if principal.role == "kepala_sekolah":
        if principal.npsn != npsn:
            raise _forbidden("Kepala sekolah hanya dapat melihat log sekolahnya sendiri.",
                             "A principal may read only their own school's log.")
    elif principal.role not in DINAS_ROLES:
        raise _forbidden(f"Peran '{principal.role}' tidak dapat melihat log sinkronisasi sekolah.",
                         f"Role '{principal.role}' may not read a school's sync log.")
    async with uow_factory() as uow:
        records = (
            await uow.session.exec(_of_kind(
                select(SyncRecord).where(SyncRecord.school_npsn == npsn)
                .order_by(SyncRecord.teacher_nip, SyncRecord.kind, SyncRecord.assessment_version), kind,
            ))
        ).all()
        records = [r for r in records if _in_region(principal, r.region)]
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
    if principal.role not in DINAS_ROLES:
        raise _forbidden("Hanya dinas yang dapat melihat log sinkronisasi wilayah.",
                         "Only the dinas may read a district's sync log.")
    if not _in_region(principal, region):
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
    if principal.role not in DINAS_ROLES:
        raise _forbidden("Hanya dinas yang dapat melihat daftar rekaman sinkronisasi.",
                         "Only the dinas may list sync records.")
    if status is not None and status not in model.STATUSES:
        raise AppError(
            "status_tidak_dikenal", f"Status '{status}' tidak dikenal.", f"Unknown status '{status}'.",
            status_code=400, details={"allowed": list(model.STATUSES)},
        )
    _check_kind(kind)
    async with uow_factory() as uow:
        query = select(SyncRecord).order_by(SyncRecord.updated_at.desc()).limit(limit)  # type: ignore[attr-defined]
        if status is not None:
            query = query.where(SyncRecord.status == status)
        query = _of_kind(query, kind)
        records = [r for r in (await uow.session.exec(query)).all() if _in_region(principal, r.region)]
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
