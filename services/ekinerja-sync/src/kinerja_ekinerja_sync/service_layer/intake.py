"""Recording agreed plans (SKP) and periodic reviews to be mirrored, and re-mapping them when
planning's roster or period brings what they were waiting for.

One record per (plan, revision) and per (assessment, review, recording), idempotent like the
final results: the same event (or another envelope of it) changes nothing. Each record keeps a
snapshot of what was agreed or recorded; the payload is made from it and the read models
(read_models.py). What cannot be mapped yet (the teacher not in the roster, the period not
received, a review key that is neither monthly nor quarterly) is parked at once, attempt 0,
outcome ``not_sent``, with the reason and the actor who must act, and an event; a later roster
or PeriodOpened that makes it mappable resumes it (a ``requeued`` attempt says what did).

Ordering: a revision older than one already recorded is recorded as ``superseded`` and never
sent; a newer one supersedes an older one still waiting and updates (``id``) the e-Kinerja record
of an acknowledged one (the worker does that, as for corrections of results). A periodic review
recorded again is a newer version of the same record; one older (``reviewed_at``) than a version
already recorded is superseded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from datetime import datetime, timezone
from typing import Any

from sqlmodel import col, or_, select

from kinerja_shared.clock import jakarta_date
from kinerja_shared.events import Envelope, PlanApproved
from kinerja_shared.events.contracts import PeriodicReviewRecorded
from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

from kinerja_ekinerja_sync.adapters.tables import SyncAttempt, SyncRecord, review_key
from kinerja_ekinerja_sync.domain import model
from kinerja_ekinerja_sync.domain.mapping import (
    AgreedPlan,
    CannotMap,
    RecordedReview,
    person_in_scope,
    review_months,
    to_evaluasi_periodik,
    to_rencana_skp,
)
from kinerja_ekinerja_sync.domain.resume import fields_that_matter, relevant_changes
from kinerja_ekinerja_sync.service_layer import record_events
from kinerja_ekinerja_sync.service_layer.read_models import known_for

log = get_logger(__name__)

REQUEUED = "requeued"  # the attempt outcome that starts a new round (service_layer/operator.py)
NOT_IN_SCOPE = "Guru non-ASN tidak disinkronkan ke e-Kinerja"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def agreed_plan_from(event: PlanApproved) -> AgreedPlan:
    return AgreedPlan(
        plan_id=event.plan_id, revision=event.revision, period_id=event.period_id, plan_kind=event.plan_kind,
        policy=event.policy, teacher_nip=event.teacher_nip, school_npsn=event.school_npsn,
        assessor_nip=event.assessor_nip, indicators=tuple(event.indicators),
        items=tuple(i.model_dump(mode="json") for i in event.items),
        monthly_targets=tuple(t.model_dump(mode="json") for t in event.monthly_targets),
        competency_points=event.competency_points, approved_on=jakarta_date(event.approved_at).isoformat(),
    )


def recorded_review_from(event: PeriodicReviewRecorded) -> RecordedReview:
    return RecordedReview(
        assessment_id=event.assessment_id, review=event.review, teacher_nip=event.teacher_nip,
        school_npsn=event.school_npsn, progress=event.progress, feedback=event.feedback,
        reviewed_by=event.reviewed_by, reviewed_on=jakarta_date(event.reviewed_at).isoformat(),
    )


def _snapshot_of(record: SyncRecord) -> dict[str, Any]:
    return json.loads(record.result_snapshot or "{}")


def _plan_of(data: dict[str, Any]) -> AgreedPlan:
    names = {f.name for f in dataclasses.fields(AgreedPlan)}
    values = {k: v for k, v in data.items() if k in names}
    for name in ("indicators", "items", "monthly_targets"):
        values[name] = tuple(values.get(name) or ())
    return AgreedPlan(**values)


def _review_of(data: dict[str, Any]) -> RecordedReview:
    names = {f.name for f in dataclasses.fields(RecordedReview)}
    return RecordedReview(**{k: v for k, v in data.items() if k in names})


async def payload_now(session, record: SyncRecord) -> dict[str, Any]:
    """The record's payload from its snapshot and what the read models hold now; raises
    :class:`CannotMap` when something is still missing. Also fills the record's period."""
    data = _snapshot_of(record)
    if record.kind == model.PLAN:
        plan = _plan_of(data)
        known = await known_for(session, nips=[plan.teacher_nip, plan.assessor_nip], npsn=plan.school_npsn,
                                period_id=plan.period_id)
        if known.period is not None:
            record.year, record.month_start, record.month_end = (
                known.period.year, known.period.month_start, known.period.month_end)
        return to_rencana_skp(plan, known.period, known.people.get(plan.teacher_nip),
                              known.people.get(plan.assessor_nip), known.unit)
    if record.kind == model.PERIODIC_REVIEW:
        review = _review_of(data)
        known = await known_for(session, nips=[review.teacher_nip, review.reviewed_by], npsn=review.school_npsn)
        return to_evaluasi_periodik(review, known.people.get(review.teacher_nip),
                                    known.people.get(review.reviewed_by), known.unit)
    raise ValueError(f"not a plan or a periodic review: {record.kind}")  # pragma: no cover


async def _teacher_in_scope(session, record: SyncRecord) -> bool:
    known = await known_for(session, nips=[record.teacher_nip], npsn=record.school_npsn)
    return person_in_scope(known.people.get(record.teacher_nip))


async def _settle_new(uow: UnitOfWork, record: SyncRecord, superseded_by: str | None) -> SyncRecord:
    """A new record: superseded, skipped (non-ASN), parked (cannot be mapped) or pending."""
    session = uow.session
    now = _now()
    if superseded_by is not None:
        record.status, record.next_attempt_at, record.last_message = model.SUPERSEDED, None, superseded_by
    elif not await _teacher_in_scope(session, record):
        record.status, record.next_attempt_at, record.last_message = model.SKIPPED, None, NOT_IN_SCOPE
    else:
        await _supersede_parked(session, record)
        try:
            record.payload = json.dumps(await payload_now(session, record), sort_keys=True)
        except CannotMap as problem:
            return await _park_unmappable(uow, record, problem, now)
    session.add(record)
    # The same version inserted meanwhile by a concurrent event fails the commit; the consumer
    # retries (its inbox is claimed first, so that is not taken for a duplicate) and then finds it.
    log.info("sync.recorded", kind=record.kind, key=record.assessment_id, version=record.assessment_version,
             status=record.status)
    return record


async def _supersede_parked(session, record: SyncRecord) -> None:
    """Older versions parked for a reason are done with: the new one is what goes (or waits)."""
    word = "revisi" if record.kind == model.PLAN else "versi"
    for older in (await session.exec(select(SyncRecord).where(
        SyncRecord.assessment_id == record.assessment_id, SyncRecord.status == model.PARKED,
        SyncRecord.assessment_version < record.assessment_version,
    ))).all():
        older.status, older.next_attempt_at = model.SUPERSEDED, None
        older.last_message = f"Digantikan oleh {word} {record.assessment_version}"
        session.add(older)


async def _park_unmappable(uow: UnitOfWork, record: SyncRecord, problem: CannotMap, now: datetime) -> SyncRecord:
    record.status, record.next_attempt_at = model.PARKED, None
    record.last_message, record.responsible_actor = problem.message, problem.responsible_actor
    uow.session.add(record)
    await uow.session.flush()
    uow.session.add(SyncAttempt(
        record_id=record.id, attempt=0, at=now, outcome="not_sent", message=problem.message,
        responsible_actor=problem.responsible_actor,
    ))
    uow.publish(record_events.failed(
        record, attempt=0, status="parked", http_status=None, message=problem.message,
        responsible_actor=problem.responsible_actor, failed_at=now, outcome="not_sent",
    ), region=record.region)
    log.warning("sync.parked_unmappable", kind=record.kind, key=record.assessment_id, reason=problem.message_en)
    return record


async def record_agreed_plan(uow: UnitOfWork, event: PlanApproved, envelope: Envelope) -> SyncRecord:
    """Record one agreed revision of a plan to be mirrored as its SKP. Never commits."""
    versions = (await uow.session.exec(select(SyncRecord).where(SyncRecord.assessment_id == event.plan_id))).all()
    existing = next((v for v in versions if v.assessment_version == event.revision), None)
    if existing is not None:
        return existing
    plan = agreed_plan_from(event)
    record = SyncRecord(
        kind=model.PLAN, assessment_id=event.plan_id, assessment_version=event.revision,
        teacher_nip=event.teacher_nip, school_npsn=event.school_npsn, region=envelope.region,
        year=0, month_start=0, month_end=0,  # the period's, once known (PeriodOpened)
        status=model.PENDING, next_attempt_at=_now(), source_event_id=envelope.event_id,
        period_id=event.period_id,
        result_snapshot=json.dumps({**dataclasses.asdict(plan), "approved_at": event.approved_at.isoformat()}),
    )
    newer = max((v.assessment_version for v in versions if v.assessment_version > event.revision), default=None)
    return await _settle_new(uow, record, f"Digantikan oleh revisi {newer}" if newer is not None else None)


async def record_periodic_review(uow: UnitOfWork, event: PeriodicReviewRecorded, envelope: Envelope) -> SyncRecord:
    """Record one recording of a periodic review to be mirrored. Never commits."""
    key = review_key(event.assessment_id, event.review)
    versions = (await uow.session.exec(select(SyncRecord).where(SyncRecord.assessment_id == key))).all()
    stamps = {v.id: datetime.fromisoformat(_snapshot_of(v)["reviewed_at"]) for v in versions}
    existing = next((v for v in versions if stamps[v.id] == event.reviewed_at), None)
    if existing is not None:  # the same recording again (another envelope of it)
        return existing
    review = recorded_review_from(event)
    record = SyncRecord(
        kind=model.PERIODIC_REVIEW, assessment_id=key, review=event.review,
        assessment_version=max((v.assessment_version for v in versions), default=0) + 1,
        teacher_nip=event.teacher_nip, school_npsn=event.school_npsn, region=envelope.region,
        year=0, month_start=0, month_end=0, status=model.PENDING, next_attempt_at=_now(),
        source_event_id=envelope.event_id,
        result_snapshot=json.dumps({**dataclasses.asdict(review), "reviewed_at": event.reviewed_at.isoformat()}),
    )
    with contextlib.suppress(CannotMap):  # a bad review key is parked below with the reason
        record.year, record.month_start, record.month_end, _ = review_months(event.review)
    later = [v for v in versions if stamps[v.id] > event.reviewed_at]
    superseded_by = None
    if later:
        newest = max(later, key=lambda v: stamps[v.id])
        superseded_by = (f"Digantikan oleh peninjauan {event.review} yang dicatat kemudian "
                         f"(versi {newest.assessment_version})")
    return await _settle_new(uow, record, superseded_by)


def _describe(changed: dict[str, tuple[Any, Any]]) -> str:
    def short(value: Any) -> str:
        return f"[{len(value)} butir]" if isinstance(value, list | dict) else repr(value)

    return "; ".join(f"{f}: {short(before)} -> {short(after)}" for f, (before, after) in sorted(changed.items()))


async def resume_parked(
    uow: UnitOfWork, envelope: Envelope, *, by: str, what: str, school_npsn: str | None = None,
    nips: list[str] | None = None, period_id: str | None = None,
) -> list[str]:
    """Parked plans and reviews that planning's roster (of ``school_npsn``, with ``nips``) or
    period (``period_id``) may have fixed: each that maps now, with a change that matters for
    its reason, goes back to "pending" with a ``requeued`` attempt and an event. Returns the
    keys of the resumed records. Never commits."""
    session = uow.session
    where = []
    if school_npsn:
        where.append(SyncRecord.school_npsn == school_npsn)
    if nips:
        where.append(col(SyncRecord.teacher_nip).in_(nips))
    if period_id:
        where.append(SyncRecord.period_id == period_id)
    if not where:
        return []
    parked = (await session.exec(select(SyncRecord).where(
        SyncRecord.status == model.PARKED, col(SyncRecord.kind).in_((model.PLAN, model.PERIODIC_REVIEW)), or_(*where),
    ))).all()
    if not parked:
        return []
    newest: dict[str, int] = {}
    for key, version in (await session.exec(
        select(SyncRecord.assessment_id, SyncRecord.assessment_version)
        .where(col(SyncRecord.assessment_id).in_({r.assessment_id for r in parked}))
    )).all():
        newest[key] = max(version, newest.get(key, 0))
    resumed = []
    for record in parked:
        if record.assessment_version < newest[record.assessment_id]:
            continue  # a newer version is the one to send
        last = (await session.exec(
            select(SyncAttempt).where(SyncAttempt.record_id == record.id)
            .order_by(col(SyncAttempt.attempt).desc(), col(SyncAttempt.id).desc()).limit(1)
        )).first()
        matter = fields_that_matter(last.outcome if last else None, record.last_message)
        if matter is not None and not matter:
            continue  # not something planning's data can fix
        try:
            payload = await payload_now(session, record)
        except CannotMap:
            continue  # still waiting (the reason stays as it was)
        changed = relevant_changes(record.payload_dict(), payload, matter)
        if changed is None:
            continue
        message = (f"Dilanjutkan otomatis: {what} ({by}, event {envelope.event_id}): "
                   f"{_describe(changed) if record.payload else 'data kini lengkap'}")
        requeue(uow, record, payload, by=by, message=message)
        resumed.append(record.assessment_id)
        log.info("sync.resumed", kind=record.kind, key=record.assessment_id, by=by, fields=sorted(changed))
    return resumed


def requeue(uow: UnitOfWork, record: SyncRecord, payload: dict[str, Any] | None, *, by: str, message: str) -> None:
    """Back to "pending" with a ``requeued`` attempt (the history is kept) and an event."""
    now = _now()
    previous = record.last_message
    uow.session.add(SyncAttempt(
        record_id=record.id, attempt=record.attempt_count, at=now, outcome=REQUEUED,
        message=f"{message}; sebelumnya: {previous or '-'}", responsible_actor=None,
    ))
    if payload is not None:
        record.payload = json.dumps(payload, sort_keys=True)
    record.status, record.next_attempt_at, record.updated_at = model.PENDING, now, now
    record.responsible_actor, record.last_message = None, message
    uow.session.add(record)
    uow.publish(record_events.requeued(
        record, attempt=record.attempt_count, requeued_by=by, message=message, previous_message=previous,
        requeued_at=now,
    ), region=record.region)


RECHECK_BY = "ekinerja-sync (pemeriksaan berkala)"


async def recheck_waiting(uow_factory: UnitOfWorkFactory) -> list[str]:
    """Plans and reviews parked without being sent (``not_sent``: planning's data was missing)
    that map now: back to "pending". The roster or period event that brings the data resumes
    them at once (resume_parked); this catches the one applied at the same moment as the record
    was parked (two replicas, or a review and a roster from two streams), which neither saw."""
    resumed = []
    async with uow_factory() as uow:
        waiting = (await uow.session.exec(select(SyncRecord).where(
            SyncRecord.status == model.PARKED, col(SyncRecord.kind).in_((model.PLAN, model.PERIODIC_REVIEW)),
            col(SyncRecord.payload).is_(None),
        ))).all()
        newest: dict[str, int] = {}
        if waiting:
            for key, version in (await uow.session.exec(
                select(SyncRecord.assessment_id, SyncRecord.assessment_version)
                .where(col(SyncRecord.assessment_id).in_({r.assessment_id for r in waiting}))
            )).all():
                newest[key] = max(version, newest.get(key, 0))
        for record in waiting:
            if record.assessment_version < newest[record.assessment_id]:
                continue
            try:
                payload = await payload_now(uow.session, record)
            except CannotMap:
                continue
            requeue(uow, record, payload, by=RECHECK_BY,
                    message="Dilanjutkan otomatis: data dari planning kini lengkap (pemeriksaan berkala)")
            resumed.append(record.assessment_id)
        if resumed:
            await uow.commit()
            log.info("sync.resumed_by_recheck", keys=resumed)
    return resumed


async def recheck_waiting_forever(uow_factory: UnitOfWorkFactory, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await recheck_waiting(uow_factory)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database away for a moment: next time
            log.warning("sync.recheck_failed", error=f"{type(exc).__name__}: {exc}")
