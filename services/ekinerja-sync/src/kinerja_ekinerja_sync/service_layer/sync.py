"""Use cases of the sync: record a final result, then send due records to e-Kinerja.

Recording is what the event handler does (fast, idempotent: one record per assessment id and
version). Sending is the background worker's job, in three short steps so no database lock is
held across an HTTP call and several replicas can share the work:

1. claim due records (``FOR UPDATE SKIP LOCKED`` on PostgreSQL): status "sending", a lease in
   ``next_attempt_at``, the attempt number, and the "ambiguous" mark;
2. call e-Kinerja (first reading its history when an earlier try may have been stored);
3. in one transaction: the attempt row, the record's new state and the outcome event
   (EkinerjaSyncSucceeded / EkinerjaSyncFailed) in the outbox.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from aiolimiter import AsyncLimiter
from prometheus_client import Counter, Gauge
from sqlalchemy import bindparam, insert, select, tuple_, update

from kinerja_shared.events import AssessmentFinalized, EkinerjaSyncFailed, Envelope
from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

from kinerja_ekinerja_sync.adapters.ekinerja_client import EkinerjaClient, EkinerjaUnreachable
from kinerja_ekinerja_sync.adapters.tables import SyncAttempt, SyncRecord
from kinerja_ekinerja_sync.domain import model
from kinerja_ekinerja_sync.domain.guard import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from kinerja_ekinerja_sync.domain.mapping import (
    CannotMap,
    FinalResult,
    in_scope,
    to_kinerja_periodik,
)
from kinerja_ekinerja_sync.domain.resume import snapshot
from kinerja_ekinerja_sync.domain.outcomes import (
    Outcome,
    classify_response,
    classify_unreachable,
    retry_delay_s,
)
from kinerja_ekinerja_sync.service_layer import record_events
from kinerja_ekinerja_sync.service_layer.channels import channel_for
from kinerja_ekinerja_sync.service_layer.operator import attempts_this_round
from kinerja_ekinerja_sync.settings import Settings

log = get_logger(__name__)

BREAKER_STATE = Gauge(
    "kinerja_ekinerja_breaker_state", "Circuit breaker toward BKN: 0 closed, 1 half-open, 2 open"
)
BREAKER_OPENED = Counter("kinerja_ekinerja_breaker_opened", "Times the breaker toward BKN opened")
BKN_CALLS = Counter("kinerja_ekinerja_calls", "Calls to e-Kinerja by outcome", ["outcome"])
_STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def final_result_from(event: AssessmentFinalized) -> FinalResult:
    return FinalResult(
        year=event.year,
        month_start=event.month_start,
        month_end=event.month_end,
        rating_hasil_kerja=event.rating_hasil_kerja,
        rating_perilaku_kerja=event.rating_perilaku_kerja,
        predikat=event.predikat,
        predikat_code=event.predikat_code,
        teacher_nip=event.teacher.nip,
        teacher_jenjang=event.teacher.jenjang,
        teacher_asn_status=event.teacher.asn_status,
        assessor_name=event.assessor.name,
        assessor_nip=event.assessor.nip,
        assessor_golongan=event.assessor.golongan,
        assessor_jabatan=event.assessor.jabatan,
        assessor_asn_status=event.assessor.asn_status,
        assessor_unit=event.assessor_unit,
    )


RECORDS = SyncRecord.__table__
ATTEMPTS = SyncAttempt.__table__


@dataclass
class _Known:
    """A version of an assessment already recorded (or recorded earlier in the same batch)."""

    assessment_version: int


async def record_final_result(uow: UnitOfWork, event: AssessmentFinalized, envelope: Envelope) -> dict | None:
    """Record one finalized assessment version to be sent. Never commits (the consumer does,
    with its inbox row). Applying the same version twice changes nothing. Returns the new
    record's values (None when the version was known).

    In a batch (:func:`prefetch_versions` ran) the row is only collected: :func:`write_recorded`
    inserts the batch's rows with one statement. Alone, it is inserted at once."""
    known = getattr(uow, "sync_versions", None)  # loaded for the whole batch (prefetch_versions)
    if known is not None and event.assessment_id in known:
        versions = known[event.assessment_id]
    else:
        connection = await uow.session.connection()
        versions = [
            _Known(v) for v in (await connection.execute(
                select(RECORDS.c.assessment_version).where(RECORDS.c.assessment_id == event.assessment_id)
            )).scalars()
        ]
        if known is not None:
            known[event.assessment_id] = versions
    if any(v.assessment_version == event.assessment_version for v in versions):
        return None
    now = _now()
    result = final_result_from(event)
    record: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "assessment_id": event.assessment_id,
        "assessment_version": event.assessment_version,
        "teacher_nip": event.teacher.nip,
        "school_npsn": event.school_npsn,
        "region": envelope.region,
        "year": event.year,
        "month_start": event.month_start,
        "month_end": event.month_end,
        "payload": None,
        "status": model.PENDING,
        "ekinerja_record_id": None,
        "attempt_count": 0,
        "next_attempt_at": now,
        "ambiguous": False,
        "last_message": None,
        "last_http_status": None,
        "responsible_actor": None,
        "source_event_id": envelope.event_id,
        "result_snapshot": json.dumps({**snapshot(result), "finalized_at": event.finalized_at.isoformat()}),
        "created_at": now,
        "updated_at": now,
    }
    newer = max((v.assessment_version for v in versions if v.assessment_version > event.assessment_version),
                default=None)
    if newer is not None:  # arrived late: a correction already took over
        record["status"], record["next_attempt_at"] = model.SUPERSEDED, None
        record["last_message"] = f"Digantikan oleh versi {newer}"
    elif not in_scope(result):
        record["status"], record["next_attempt_at"] = model.SKIPPED, None
        record["last_message"] = "Guru non-ASN tidak disinkronkan ke e-Kinerja"
    else:
        try:
            record["payload"] = json.dumps(to_kinerja_periodik(result), sort_keys=True)
        except CannotMap as problem:
            versions.append(_Known(event.assessment_version))
            return await _park_unmappable(uow, record, problem, now)
    versions.append(_Known(event.assessment_version))  # seen by a later event of the same batch
    pending = getattr(uow, "sync_new_records", None)
    if pending is not None:
        pending.append(record)
    else:
        await (await uow.session.connection()).execute(insert(RECORDS), [record])
    log.info("sync.recorded", assessment_id=record["assessment_id"], version=record["assessment_version"],
             status=record["status"])
    return record


async def prefetch_versions(uow: UnitOfWork, events: list) -> None:
    """Before a batch of final results: every known version of their assessments in one query
    (instead of one query, and one autoflush, per event). The batch's new records are then
    collected and written by :func:`write_recorded` with one statement."""
    ids = {e.assessment_id for e in events if isinstance(e, AssessmentFinalized)}
    known: dict[str, list[_Known]] = {i: [] for i in ids}
    if ids:
        connection = await uow.session.connection()
        for assessment_id, version in await connection.execute(
            select(RECORDS.c.assessment_id, RECORDS.c.assessment_version).where(RECORDS.c.assessment_id.in_(ids))
        ):
            known[assessment_id].append(_Known(version))
    uow.sync_versions = known  # type: ignore[attr-defined]
    uow.sync_new_records = []  # type: ignore[attr-defined]


async def write_recorded(uow: UnitOfWork) -> None:
    """After a batch: insert the records it collected (one executemany)."""
    pending = getattr(uow, "sync_new_records", None)
    if pending:
        await (await uow.session.connection()).execute(insert(RECORDS), pending)
        pending.clear()


async def _park_unmappable(uow: UnitOfWork, record: dict, problem: CannotMap, now: datetime) -> dict:
    record["status"], record["next_attempt_at"] = model.PARKED, None
    record["last_message"], record["responsible_actor"] = problem.message, problem.responsible_actor
    connection = await uow.session.connection()
    await connection.execute(insert(RECORDS), [record])
    await connection.execute(insert(ATTEMPTS), [{
        "record_id": record["id"], "attempt": 0, "at": now, "outcome": "not_sent", "message": problem.message,
        "responsible_actor": problem.responsible_actor, "http_status": None,
    }])
    uow.publish(
        EkinerjaSyncFailed(
            assessment_id=record["assessment_id"], assessment_version=record["assessment_version"],
            teacher_nip=record["teacher_nip"], school_npsn=record["school_npsn"], attempt=0,
            status="parked", http_status=None, message=problem.message,
            responsible_actor=problem.responsible_actor, failed_at=now, outcome="not_sent",
        ),
        region=record["region"],
    )
    log.warning("sync.parked_unmappable", assessment_id=record["assessment_id"], reason=problem.message_en)
    return record


class _NoLimit:
    async def acquire(self) -> None:
        return None


def bkn_rate_limit(rate_per_s: float, burst: int) -> AsyncLimiter | _NoLimit:
    """At most ``rate_per_s`` calls a second toward BKN on average, bursts up to ``burst``
    (aiolimiter's leaky bucket: ``burst`` calls per ``burst / rate`` seconds); 0 = no limit."""
    if rate_per_s <= 0:
        return _NoLimit()
    burst = max(1, burst)
    return AsyncLimiter(burst, burst / rate_per_s)


@dataclass(frozen=True)
class Claim:
    record_id: str
    teacher_nip: str
    attempt: int
    payload: dict[str, Any]
    check_first: bool
    # An older version of this assessment may be stored in e-Kinerja although it was never
    # acknowledged: a record for the same NIP and period is that one, to be updated.
    adopt_period_record: bool = False
    # What is sent (domain/model.py KINDS): a final result, an agreed plan or a periodic review.
    kind: str = model.RESULT


class SyncWorker:
    """Sends due records to e-Kinerja; run it as a background task of the runtime.

    A pipeline rather than rounds: up to ``ekinerja_concurrency`` calls are in flight, a free
    slot is filled at once (one slow call or timeout does not hold the others back), and the
    outcomes are written by one writer task, many per transaction (SQLite has one writer: a
    transaction per outcome made the calls wait on the database lock, see bench/sync.py)."""

    OUTCOMES_PER_TRANSACTION = 200
    OUTCOME_LINGER_S = 0.05

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        client: EkinerjaClient,
        settings: Settings,
        rng: random.Random | None = None,
    ) -> None:
        self.uow = uow
        self.client = client
        self.settings = settings
        self.rng = rng or random.Random()
        # A claimed record comes back to the pool when its lease passes (worker died).
        self.lease = timedelta(seconds=settings.ekinerja_timeout_s * 4 + 5)
        self.breaker = CircuitBreaker(settings.ekinerja_breaker_failures, settings.ekinerja_breaker_open_s)
        self.rate_limit = bkn_rate_limit(settings.ekinerja_rate_limit_per_s, settings.ekinerja_rate_limit_burst)
        self._outcomes: asyncio.Queue[tuple[Claim, Outcome]] = asyncio.Queue()
        self._claim_at = max(1, settings.ekinerja_concurrency // 2)

    async def run(self) -> None:
        log.info("sync.worker_started", ekinerja=str(self.settings.ekinerja_base_url))
        writer = asyncio.create_task(self._write_outcomes(), name="ekinerja-sync-outcomes")
        in_flight: set[asyncio.Task] = set()
        try:
            while True:
                free = self.settings.ekinerja_concurrency - len(in_flight)
                started = 0
                # Claim when half the slots are free (or none is busy): one claim transaction
                # for many records, not one per freed slot.
                if free > 0 and (free >= self._claim_at or not in_flight):
                    try:
                        claims = await self._claim_for_slots(free)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # the database away for a moment: try again later
                        log.warning("sync.worker_round_failed", error=f"{type(exc).__name__}: {exc}")
                        claims = []
                    for claim in claims:
                        task = asyncio.create_task(self._send_and_queue(claim))
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                    started = len(claims)
                if started and self.settings.ekinerja_concurrency - len(in_flight) >= self._claim_at:
                    await asyncio.sleep(0)  # more may be due: claim again right away
                elif in_flight:
                    # Wake when a slot frees, or after the poll interval (new records, retries due).
                    await asyncio.wait(in_flight, timeout=self.settings.ekinerja_poll_interval_s,
                                       return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.sleep(self.settings.ekinerja_poll_interval_s)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await self.client.aclose()

    async def _claim_for_slots(self, free: int) -> list[Claim]:
        allowed = self.breaker.allowed()
        BREAKER_STATE.set(_STATE_VALUE[self.breaker.state])
        if allowed == 0:  # open (or a probe is out): leave BKN alone
            return []
        if allowed == 1:
            self.breaker.start_probe()
            log.info("sync.breaker_probe")
        claims = await self.claim_due(limit=1 if allowed == 1 else min(free, self.settings.ekinerja_batch_size))
        if allowed == 1 and not claims:
            self.breaker.probe_in_flight = False  # nothing due to probe with: try next round
        return claims

    async def run_once(self) -> int:
        """One round (tests, operator tools): claim due records, send them, write the outcomes."""
        claims = await self._claim_for_slots(self.settings.ekinerja_batch_size)
        outcomes = await asyncio.gather(*(self._send_and_judge(claim) for claim in claims))
        await self.record_outcomes(list(zip(claims, outcomes, strict=True)))
        return len(claims)

    async def _send_and_queue(self, claim: Claim) -> None:
        outcome = await self._send_and_judge(claim)
        self._outcomes.put_nowait((claim, outcome))

    async def _send_and_judge(self, claim: Claim) -> Outcome:
        outcome = await self.send(claim)
        was_open = self.breaker.times_opened
        self.breaker.record(outcome.outcome)
        BKN_CALLS.labels(outcome.outcome).inc()
        if self.breaker.times_opened != was_open:
            BREAKER_OPENED.inc()
            log.warning("sync.breaker_opened", after=outcome.outcome, open_s=self.breaker.open_s)
        BREAKER_STATE.set(_STATE_VALUE[self.breaker.state])
        return outcome

    async def _write_outcomes(self) -> None:
        while True:
            batch = [await self._outcomes.get()]
            if self._outcomes.qsize() < self.OUTCOMES_PER_TRANSACTION // 4:
                # Let the calls in flight answer too: one transaction for many outcomes. A
                # transaction costs several milliseconds of CPU whatever its size (bench/sync.py);
                # the records wait a little longer in "sending", which changes nothing else.
                await asyncio.sleep(self.OUTCOME_LINGER_S)
            while len(batch) < self.OUTCOMES_PER_TRANSACTION and not self._outcomes.empty():
                batch.append(self._outcomes.get_nowait())
            for delay in (0.1, 0.5, 2.0, None):
                try:
                    await self.record_outcomes(batch)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Not written: the records stay "sending" until their lease passes, then
                    # they are read first and never sent twice. Try a few times before that.
                    log.warning("sync.outcomes_not_written", count=len(batch), error=f"{type(exc).__name__}: {exc}")
                    if delay is None:
                        break
                    await asyncio.sleep(delay)

    # The columns a claim reads (no ORM objects on the hot path: SQLAlchemy Core rows).
    _CLAIM_COLUMNS = (
        RECORDS.c.id, RECORDS.c.assessment_id, RECORDS.c.assessment_version, RECORDS.c.teacher_nip,
        RECORDS.c.school_npsn, RECORDS.c.region, RECORDS.c.status, RECORDS.c.attempt_count, RECORDS.c.ambiguous,
        RECORDS.c.payload, RECORDS.c.source_event_id, RECORDS.c.ekinerja_record_id,
        RECORDS.c.kind, RECORDS.c.review, RECORDS.c.period_id,
    )
    _VERSION_COLUMNS = (
        RECORDS.c.id, RECORDS.c.assessment_id, RECORDS.c.assessment_version, RECORDS.c.status,
        RECORDS.c.ambiguous, RECORDS.c.ekinerja_record_id,
    )

    async def claim_due(self, limit: int | None = None) -> list[Claim]:
        now = _now()
        claims: list[Claim] = []
        async with self.uow() as uow:
            connection = await uow.session.connection()
            rows = (
                await connection.execute(
                    select(*self._CLAIM_COLUMNS)
                    # ``status || ''``: the same test, but SQLite then walks the next_attempt_at
                    # index in order (a few rows) instead of the status index and a sort of every
                    # due record (10,000 pending sorted per claim in bench/sync.py).
                    .where(RECORDS.c.status.concat("").in_(model.DUE), RECORDS.c.next_attempt_at <= now)
                    .order_by(RECORDS.c.next_attempt_at)
                    .limit(limit or self.settings.ekinerja_batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return claims
            # Every other version of these assessments, in one query.
            others: dict[str, list[Any]] = {}
            for other in await connection.execute(
                select(*self._VERSION_COLUMNS).where(RECORDS.c.assessment_id.in_({r.assessment_id for r in rows}))
            ):
                others.setdefault(other.assessment_id, []).append(other)
            candidates = []
            superseded: set[str] = set()
            for record in rows:
                older = [o for o in others.get(record.assessment_id, []) if o.assessment_version < record.assessment_version]
                prepared = await self._prepare(connection, record, older, now, superseded)
                if prepared is not None:
                    candidates.append((record, *prepared))
            # A due record superseded by a newer one of this same claim is not sent.
            candidates = [c for c in candidates if c[0].id not in superseded]
            if candidates:
                claimed = await self._compare_and_set(connection, [c[0] for c in candidates], now)
                for record, payload, adopt in candidates:
                    if record.id in claimed:
                        claims.append(await self._claimed(uow, connection, record, payload, adopt, now))
            await uow.commit()
        return claims

    async def _prepare(self, connection, record, older: list, now: datetime, superseded: set[str]):
        """What to send for this record, or None when it must wait for an older version."""
        if any(o.status == model.SENDING for o in older):
            # An older version is in flight: wait for its answer, then update its record.
            await connection.execute(
                update(RECORDS).where(RECORDS.c.id == record.id)
                .values(next_attempt_at=now + timedelta(seconds=self.settings.ekinerja_poll_interval_s))
            )
            return None
        payload = json.loads(record.payload) if record.payload else {}
        for o in older:
            if o.status in (model.PENDING, model.RETRYING) and o.id not in superseded:
                await connection.execute(
                    update(RECORDS).where(RECORDS.c.id == o.id, RECORDS.c.status == o.status).values(
                        status=model.SUPERSEDED, next_attempt_at=None,
                        last_message=f"Digantikan oleh versi {record.assessment_version}",
                    )
                )
                superseded.add(o.id)
        acknowledged = [o for o in older if o.ekinerja_record_id]
        if acknowledged:  # a correction updates e-Kinerja's record instead of adding one
            payload["id"] = max(acknowledged, key=lambda o: o.assessment_version).ekinerja_record_id
        # An older version that failed ambiguously may be in e-Kinerja unacknowledged: read first.
        adopt = not acknowledged and any(o.ambiguous for o in older)
        return payload, adopt

    async def _compare_and_set(self, connection, records: list, now: datetime) -> set[str]:
        """Move the records to "sending" in one statement, each only if it is still as read
        (status, attempt_count): only one replica moves a record on. On PostgreSQL the rows
        are already locked (SKIP LOCKED); on SQLite the SELECT ran outside the write lock, so
        another process may have claimed one meanwhile. Returns the ids this worker got."""
        result = await connection.execute(
            update(RECORDS)
            .where(
                RECORDS.c.id.in_([r.id for r in records]),  # by primary key: the row-value IN alone is a table scan on SQLite
                tuple_(RECORDS.c.id, RECORDS.c.status, RECORDS.c.attempt_count).in_(
                    [(r.id, r.status, r.attempt_count) for r in records]
                ),
            )
            .values(
                status=model.SENDING,
                ambiguous=True,  # until we hear otherwise, BKN may hold it
                attempt_count=RECORDS.c.attempt_count + 1,
                next_attempt_at=now + self.lease,
                updated_at=now,
            )
            .returning(RECORDS.c.id)
        )
        return set(result.scalars().all())

    async def _claimed(self, uow: UnitOfWork, connection, record, payload: dict[str, Any], adopt: bool,
                       now: datetime) -> Claim:
        if record.status == model.SENDING:
            # The lease passed without an answer: the worker that held it died mid-call.
            message = "Percobaan terputus tanpa jawaban; diperiksa ulang sebelum kirim ulang"
            await connection.execute(insert(ATTEMPTS), [{
                "record_id": record.id, "attempt": record.attempt_count, "at": now, "outcome": "interrupted",
                "http_status": None, "message": message, "responsible_actor": "sistem",
            }])
            uow.causation_id = record.source_event_id
            uow.publish(record_events.failed(
                record, attempt=record.attempt_count, status="retrying", http_status=None, message=message,
                responsible_actor="sistem", failed_at=now, outcome="interrupted",
            ), region=record.region)
        # record.ambiguous is the value read before the claim: was an earlier try maybe stored?
        return Claim(record.id, record.teacher_nip, record.attempt_count + 1, payload,
                     record.ambiguous or adopt, adopt_period_record=adopt, kind=record.kind)

    async def send(self, claim: Claim) -> Outcome:
        channel = channel_for(claim.kind)  # where this kind of record goes (service_layer/channels.py)
        try:
            if claim.check_first:
                await self.rate_limit.acquire()
                history = await channel.history(self.client, claim.teacher_nip)
                if 200 <= history.status < 300:
                    data = history.body.get("data") or []
                    found = channel.already_stored(data if isinstance(data, list) else [], claim.payload)
                    if found:
                        return Outcome(
                            "acknowledged", "already_stored", history.status,
                            "Sudah tersimpan di e-Kinerja (ditemukan sebelum kirim ulang)",
                            ekinerja_record_id=found,
                        )
                    earlier = channel.same_period_record(data if isinstance(data, list) else [], claim.payload)
                    if claim.adopt_period_record and earlier and "id" not in claim.payload:
                        claim = replace(claim, payload={**claim.payload, "id": earlier})
                else:
                    checked = classify_response(history.status, history.message, history.retry_after)
                    # Still unknown whether the earlier try was stored.
                    return checked if checked.kind == "parked" else replace(checked, ambiguous=True)
            await self.rate_limit.acquire()
            response = await channel.save(self.client, claim.payload)
            return classify_response(response.status, response.message, response.retry_after, response.record_id)
        except EkinerjaUnreachable as exc:
            return classify_unreachable(exc.kind, exc.detail)

    async def record_outcome(self, claim: Claim, outcome: Outcome) -> None:
        await self.record_outcomes([(claim, outcome)])

    _OUTCOME_COLUMNS = (
        RECORDS.c.id, RECORDS.c.assessment_id, RECORDS.c.assessment_version, RECORDS.c.teacher_nip,
        RECORDS.c.school_npsn, RECORDS.c.region, RECORDS.c.status, RECORDS.c.attempt_count,
        RECORDS.c.source_event_id, RECORDS.c.kind, RECORDS.c.review, RECORDS.c.period_id,
    )

    async def record_outcomes(self, batch: list[tuple[Claim, Outcome]]) -> None:
        """Write the outcomes of many calls in one transaction: each its attempt row, its
        record's new state and its event (outbox). SQLAlchemy Core with one statement per kind
        of write (attempts, record updates, outbox rows), not an ORM object per row: the ORM
        cost more CPU than the HTTP call (bench/sync.py)."""
        if not batch:
            return
        now = _now()
        async with self.uow() as uow:
            connection = await uow.session.connection()
            ids = {claim.record_id for claim, _ in batch}
            records = {
                r.id: SimpleNamespace(**r._mapping)
                for r in await connection.execute(select(*self._OUTCOME_COLUMNS).where(RECORDS.c.id.in_(ids)))
            }
            attempts: list[dict[str, Any]] = []
            changes: list[tuple[tuple[str, ...], list[dict[str, Any]]]] = []  # runs of the same columns
            events: list[tuple[Any, str, str | None]] = []
            for claim, outcome in batch:
                record = records.get(claim.record_id)
                if record is None:  # pragma: no cover - records are never deleted
                    continue
                attempt, change, event = await self._apply_outcome(uow, record, claim, outcome, now)
                vars(record).update(change)  # a second outcome for it in this batch sees the first
                attempts.append(attempt)
                columns = tuple(sorted(change))
                if not changes or changes[-1][0] != columns:
                    changes.append((columns, []))
                changes[-1][1].append({"b_id": record.id, **{f"v_{c}": v for c, v in change.items()}})
                events.append((event, record.region, record.source_event_id))
            if attempts:
                await connection.execute(insert(ATTEMPTS), attempts)
            for columns, rows in changes:  # in order: the same record may be in two runs
                await connection.execute(
                    update(RECORDS).where(RECORDS.c.id == bindparam("b_id"))
                    .values({c: bindparam(f"v_{c}") for c in columns}),
                    rows,
                )
            # The events of a record are caused by the finalized event that created it.
            await uow.publish_many(events)
            await uow.commit()

    async def _apply_outcome(self, uow: UnitOfWork, record, claim: Claim, outcome: Outcome,
                             now: datetime) -> tuple[dict[str, Any], dict[str, Any], Any]:
        """The attempt row, the record's changed columns and the event for one outcome."""
        attempt = {
            "record_id": record.id, "attempt": claim.attempt, "at": now, "outcome": outcome.outcome,
            "http_status": outcome.http_status, "message": outcome.message,
            "responsible_actor": outcome.responsible_actor,
        }
        change: dict[str, Any] = {"last_http_status": outcome.http_status, "updated_at": now}
        still_ours = record.status == model.SENDING and record.attempt_count == claim.attempt
        if outcome.kind == "acknowledged":
            change.update(ekinerja_record_id=outcome.ekinerja_record_id, ambiguous=False,
                          last_message=outcome.message, responsible_actor=None)
            if still_ours:
                change.update(status=model.ACKNOWLEDGED, next_attempt_at=None)
            event = record_events.succeeded(
                record, attempt=claim.attempt, ekinerja_record_id=outcome.ekinerja_record_id or "",
                synced_at=now, outcome=outcome.outcome, message=outcome.message,
            )
            log.info("sync.acknowledged", assessment_id=record.assessment_id, attempt=claim.attempt,
                     how=outcome.outcome)
        else:
            message, actor = outcome.message, outcome.responsible_actor or "sistem"
            exhausted = outcome.kind == "retry" and claim.attempt >= self.settings.ekinerja_max_attempts
            if exhausted:  # count only this round when an operator re-queued it
                this_round = await attempts_this_round(uow.session, record.id, claim.attempt)
                exhausted = this_round >= self.settings.ekinerja_max_attempts
            if exhausted:
                message = f"Gagal setelah {claim.attempt} percobaan: {outcome.message}"
                actor = "sistem"
            parked = outcome.kind == "parked" or exhausted
            change.update(ambiguous=outcome.ambiguous, last_message=message, responsible_actor=actor)
            if still_ours:
                if parked:
                    change.update(status=model.PARKED, next_attempt_at=None)
                else:
                    delay = retry_delay_s(
                        outcome, claim.attempt, self.settings.ekinerja_backoff_base_s,
                        self.settings.ekinerja_backoff_max_s, self.rng,
                    )
                    change.update(status=model.RETRYING, next_attempt_at=now + timedelta(seconds=delay))
            event = record_events.failed(
                record, attempt=claim.attempt, status="parked" if parked else "retrying",
                http_status=outcome.http_status, message=message, responsible_actor=actor,
                failed_at=now, outcome=outcome.outcome,
            )
            log.warning("sync.failed", assessment_id=record.assessment_id, attempt=claim.attempt,
                        outcome=outcome.outcome, http_status=outcome.http_status,
                        parked=parked, actor=actor)
        return attempt, change, event
