"""The events of a sync record, by what it mirrors.

Final results keep their ``ekinerja.sync.*`` events (keyed by assessment id and version);
agreed plans publish ``ekinerja.skp_sync.*`` (plan id, revision, period) and periodic reviews
``ekinerja.periodic_review_sync.*`` (assessment id, review, recording), so no downstream system
is handed a plan id where it expects an assessment id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kinerja_shared.events import EventContract
from kinerja_shared.events.contracts import (
    EkinerjaPeriodicReviewSyncFailed,
    EkinerjaPeriodicReviewSyncRequeued,
    EkinerjaPeriodicReviewSyncSucceeded,
    EkinerjaSkpSyncFailed,
    EkinerjaSkpSyncRequeued,
    EkinerjaSkpSyncSucceeded,
    EkinerjaSyncFailed,
    EkinerjaSyncRequeued,
    EkinerjaSyncSucceeded,
)

from kinerja_ekinerja_sync.adapters.tables import subject_id
from kinerja_ekinerja_sync.domain import model

# ``record`` below: a SyncRecord, or a row read with SQLAlchemy Core that has at least
# assessment_id, assessment_version, teacher_nip, school_npsn, kind, review and period_id.
Record = Any


def _identity(record: Record) -> dict:
    common = {"teacher_nip": record.teacher_nip, "school_npsn": record.school_npsn}
    kind = getattr(record, "kind", None) or model.RESULT
    if kind == model.PLAN:
        return {**common, "plan_id": record.assessment_id, "plan_revision": record.assessment_version,
                "period_id": record.period_id or ""}
    if kind == model.PERIODIC_REVIEW:
        return {**common, "assessment_id": subject_id(kind, record.assessment_id, record.review),
                "review": record.review or "", "review_version": record.assessment_version}
    return {**common, "assessment_id": record.assessment_id, "assessment_version": record.assessment_version}


def _kind(record: Record) -> str:
    return getattr(record, "kind", None) or model.RESULT


def succeeded(record: Record, *, attempt: int, ekinerja_record_id: str, synced_at: datetime, outcome: str,
              message: str) -> EventContract:
    contract = {model.PLAN: EkinerjaSkpSyncSucceeded, model.PERIODIC_REVIEW: EkinerjaPeriodicReviewSyncSucceeded}.get(
        _kind(record), EkinerjaSyncSucceeded)
    return contract(**_identity(record), attempt=attempt, ekinerja_record_id=ekinerja_record_id,
                    synced_at=synced_at, outcome=outcome, message=message)


def failed(record: Record, *, attempt: int, status: str, http_status: int | None, message: str,
           responsible_actor: str, failed_at: datetime, outcome: str) -> EventContract:
    contract = {model.PLAN: EkinerjaSkpSyncFailed, model.PERIODIC_REVIEW: EkinerjaPeriodicReviewSyncFailed}.get(
        _kind(record), EkinerjaSyncFailed)
    return contract(**_identity(record), attempt=attempt, status=status, http_status=http_status, message=message,
                    responsible_actor=responsible_actor, failed_at=failed_at, outcome=outcome)


def requeued(record: Record, *, attempt: int, requeued_by: str, message: str, previous_message: str | None,
             requeued_at: datetime) -> EventContract:
    contract = {model.PLAN: EkinerjaSkpSyncRequeued, model.PERIODIC_REVIEW: EkinerjaPeriodicReviewSyncRequeued}.get(
        _kind(record), EkinerjaSyncRequeued)
    return contract(**_identity(record), attempt=attempt, requeued_by=requeued_by, message=message,
                    previous_message=previous_message, requeued_at=requeued_at)
