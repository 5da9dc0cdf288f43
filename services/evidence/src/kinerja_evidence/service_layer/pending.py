"""Objects that may be in storage without an evidence row: durable across a kill -9.

An upload commits a ``PendingObject`` record before it writes the object and deletes the
record in the transaction that commits the evidence row (:func:`settle`); a withdrawal writes
the record in the transaction that deletes the row, removes the object, then deletes the
record. A process killed in between leaves the record, and :func:`sweep_pending_objects`
(run by the upload sweeper, every ``KINERJA_UPLOAD_SWEEP_INTERVAL_S``) removes the object of
every record older than ``KINERJA_PENDING_OBJECT_MAX_AGE_S`` (a withdrawal's at once) whose
key no evidence row owns, then the record.

The sweep and a slow upload cannot both win: the sweep first *claims* the records it will act
on (``claimed_at``, committed, rows locked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and
only then removes objects; the upload's commit deletes its record only while it is unclaimed
and fails otherwise (:class:`UploadTooSlow`), so a row is never committed for an object the
sweep removes. A claimed record stays until its object is gone: a sweeper killed after the
claim leaves it to the next sweep (removing twice is harmless), which is also what makes
several replicas sweeping at once safe.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from minio.error import S3Error
from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import aliased

from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

from kinerja_evidence.adapters.storage import ObjectStorage
from kinerja_evidence.adapters.tables import Evidence, PendingObject
from kinerja_evidence.domain.model import UploadTooSlow

log = get_logger(__name__)

SINGLE = "single"
PARTS = "parts"
DELETE = "delete"


async def note(uow_factory: UnitOfWorkFactory, key: str, reason: str) -> None:
    """Committed before the object is written."""
    async with uow_factory() as uow:
        uow.session.add(PendingObject(object_key=key, reason=reason))
        await uow.commit()


async def settle(uow: UnitOfWork, key: str) -> None:
    """In the transaction that commits what owns the object (its evidence row, or the upload
    session that takes over): the record goes with it, unless the sweep has claimed it."""
    result = await uow.session.exec(delete(PendingObject).where(
        PendingObject.object_key == key, PendingObject.claimed_at.is_(None)))  # type: ignore[union-attr]
    if result.rowcount != 1:
        log.warning("evidence.pending_object_already_swept", object_key=key)
        raise UploadTooSlow()


def note_removal(uow: UnitOfWork, key: str) -> None:
    """In the transaction that deletes the row owning ``key``."""
    uow.session.add(PendingObject(object_key=key, reason=DELETE))


async def forget(uow_factory: UnitOfWorkFactory, key: str) -> None:
    async with uow_factory() as uow:
        await uow.session.exec(delete(PendingObject).where(PendingObject.object_key == key))
        await uow.commit()


async def discard(uow_factory: UnitOfWorkFactory, storage: ObjectStorage, key: str) -> None:
    """After a failed upload or once a withdrawn row is committed: the object, then its
    record. Any failure leaves the record for the sweep (logged, not raised)."""
    try:
        await _remove(storage, key)
        await forget(uow_factory, key)
    except Exception as exc:
        log.warning("evidence.pending_object_left_for_sweep", object_key=key, error=str(exc))


async def _remove(storage: ObjectStorage, key: str, *, abort_multipart: bool = False) -> None:
    if abort_multipart:  # an S3 multipart upload started before its session row committed
        for name, upload_id in await storage.multipart_uploads(prefix=key):
            if name == key:
                await storage.abort_multipart(key, upload_id)
    try:
        await storage.remove(key)
    except S3Error as exc:
        if exc.code not in ("NoSuchKey", "NoSuchObject"):
            raise


def _owned(pending=PendingObject):
    return exists().where(Evidence.object_key == pending.object_key)


async def sweep_pending_objects(uow_factory: UnitOfWorkFactory, storage: ObjectStorage, *, max_age_s: float,
                                now: datetime | None = None, batch: int = 100) -> int:
    """Remove the objects of records older than ``max_age_s`` (a withdrawal's at once) that
    no evidence row owns, then the records; drop old records whose key a row owns (the object
    stays). Idempotent; safe with several replicas. Returns how many objects were removed."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(seconds=max_age_s)
    def due(pending=PendingObject):
        return or_(pending.created_at < cutoff, pending.reason == DELETE)

    async with uow_factory() as uow:
        # Leftovers of committed rows: never their object, only the record.
        await uow.session.exec(delete(PendingObject).where(due(), _owned()))
        other = aliased(PendingObject)
        candidates = (select(other.object_key).where(due(other), ~_owned(other)).limit(batch)
                      .with_for_update(skip_locked=True))
        claimed = (await uow.session.exec(
            update(PendingObject)
            .where(PendingObject.object_key.in_(candidates.scalar_subquery()), ~_owned())  # type: ignore[attr-defined]
            .values(claimed_at=now)
            .returning(PendingObject.object_key, PendingObject.reason)
        )).all()
        await uow.commit()
    removed = 0
    for key, reason in claimed:
        try:
            await _remove(storage, key, abort_multipart=reason == PARTS)
        except Exception as exc:  # the store is away: the claimed record waits for the next sweep
            log.warning("evidence.pending_object_sweep_failed", object_key=key, error=str(exc))
            continue
        async with uow_factory() as uow:
            await uow.session.exec(delete(PendingObject).where(
                PendingObject.object_key == key, PendingObject.claimed_at.is_not(None)))  # type: ignore[union-attr]
            await uow.commit()
        removed += 1
        log.warning("evidence.pending_object_removed", object_key=key, reason=reason)
    return removed

