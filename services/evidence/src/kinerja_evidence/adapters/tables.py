"""The evidence service's tables: its read model of plans and its evidence files."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(timezone.utc)


class PlanView(SQLModel, table=True):
    """What planning's events told us about a plan (the latest state by revision)."""

    __tablename__ = "evidence_plan_views"

    plan_id: str = Field(primary_key=True, max_length=64)
    period_id: str = Field(max_length=64)
    teacher_nip: str = Field(index=True, max_length=32)
    school_npsn: str = Field(max_length=16)
    assessor_nip: str | None = Field(default=None, max_length=32)
    region: str = Field(max_length=6)
    status: str = Field(max_length=16)
    revision: int
    # When the event that set this state happened (orders events within a revision).
    state_at: datetime
    updated_at: datetime = Field(default_factory=_now)
    policy: str = Field(default="pmm-2024", max_length=32)
    # Planned competency points (the target verified points are totalled against).
    competency_points: int = 0


class PlanItemView(SQLModel, table=True):
    """An item of the plan's latest revision (what evidence attaches to); replaced whole when
    a newer revision arrives."""

    __tablename__ = "evidence_plan_items"

    plan_id: str = Field(primary_key=True, max_length=64)
    item_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=32)
    code: str = Field(max_length=64)
    title: str = Field(max_length=500)
    points: int = 0


class MonthlyTargetView(SQLModel, table=True):
    """A monthly target of the plan's latest revision (daily reports are logged against it)."""

    __tablename__ = "evidence_monthly_targets"

    plan_id: str = Field(primary_key=True, max_length=64)
    target_id: str = Field(primary_key=True, max_length=64)
    month: str = Field(max_length=7)
    item_id: str | None = Field(default=None, max_length=64)
    description: str = Field(sa_column=Column(Text, nullable=False))


class PeriodView(SQLModel, table=True):
    """What planning told us about a period: its policy, its execution window, its bounds."""

    __tablename__ = "evidence_period_views"

    period_id: str = Field(primary_key=True, max_length=64)
    policy: str = Field(max_length=32)
    starts_on: date
    ends_on: date
    # The pelaksanaan (execution) window; None when the producer sent no stages.
    execution_starts_on: date | None = None
    execution_ends_on: date | None = None
    evidence_required: bool = True
    competency_points_min: int = 32
    competency_points_max: int = 128
    competency_points_max_per_activity: int | None = None
    # When the schedule we hold was set (a late, older schedule change does not win).
    schedule_at: datetime
    closed_at: datetime | None = None
    updated_at: datetime = Field(default_factory=_now)


class FinalizedAssessment(SQLModel, table=True):
    """A teacher's period whose assessment is final: its evidence is read-only from then on."""

    __tablename__ = "evidence_finalized"

    period_id: str = Field(primary_key=True, max_length=64)
    teacher_nip: str = Field(primary_key=True, max_length=32)
    assessment_id: str = Field(max_length=64)
    finalized_at: datetime


SAME_BYTES_FOR_ITEM = "uq_evidence_files_plan_item_sha256"
SAME_BYTES_FOR_PLAN = "uq_evidence_files_plan_sha256_no_item"


class Evidence(SQLModel, table=True):
    """One bukti dukung file: where it lives in object storage and what it is."""

    __tablename__ = "evidence_files"
    # The same bytes for the same plan item are one bukti, decided by the database: two
    # identical uploads racing both pass the service's read-then-insert check, and one of
    # them must lose at commit. Withdrawing a bukti deletes its row, so the same bytes may be
    # uploaded again. NULLs are distinct in a unique index (SQLite and PostgreSQL): the plan
    # as a whole (item_id NULL) gets its own partial index.
    __table_args__ = (
        Index(SAME_BYTES_FOR_ITEM, "plan_id", "item_id", "sha256", unique=True),
        Index(SAME_BYTES_FOR_PLAN, "plan_id", "sha256", unique=True,
              sqlite_where=text("item_id IS NULL"), postgresql_where=text("item_id IS NULL")),
    )

    evidence_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    period_id: str = Field(max_length=64)
    teacher_nip: str = Field(index=True, max_length=32)
    school_npsn: str = Field(max_length=16)
    object_key: str = Field(unique=True, max_length=255)
    # Indexed: reuse of the same file across items, periods and teachers is found by it.
    sha256: str = Field(index=True, max_length=64)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    content_type: str = Field(max_length=128)
    file_name: str = Field(max_length=200)
    uploaded_at: datetime = Field(default_factory=_now)
    # The plan item it supports (None: the plan as a whole, the original single upload).
    item_id: str | None = Field(default=None, max_length=64)
    # submitted -> verified | rejected, by the plan's assessor.
    status: str = Field(default="submitted", max_length=16)
    review_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reviewed_by: str | None = Field(default=None, max_length=32)
    reviewed_at: datetime | None = None
    # The same bytes were already evidence elsewhere (another item, period or teacher).
    reuse_flagged: bool = False
    reuse_of: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    upload_method: str = Field(default="single", max_length=16)


class UploadSession(SQLModel, table=True):
    """A resumable upload in progress: an S3 multipart upload (mode "parts") or a presigned
    PUT the client makes itself (mode "presigned")."""

    __tablename__ = "evidence_upload_sessions"

    upload_id: str = Field(primary_key=True, max_length=64)
    owner_nip: str = Field(index=True, max_length=32)
    plan_id: str = Field(max_length=64)
    item_id: str | None = Field(default=None, max_length=64)
    mode: str = Field(max_length=16)
    file_name: str = Field(max_length=200)
    declared_type: str = Field(max_length=128)
    declared_sha256: str | None = Field(default=None, max_length=64)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    part_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    parts_total: int
    # The evidence id and object key are fixed at the start: the multipart upload targets them.
    evidence_id: str = Field(max_length=64)
    object_key: str = Field(max_length=255)
    s3_upload_id: str | None = Field(default=None, max_length=1024)
    # SHA-256 state after the parts received so far (resumable across requests and replicas).
    hash_state: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    received_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="open", max_length=16)  # open | completed
    # The Jakarta day (by the service's clock) the upload started: an upload begun inside
    # the execution window may finish after it closes (a slow link on the last evening).
    started_on: date | None = None
    created_at: datetime = Field(default_factory=_now)
    # Abandoned when nothing happened until then: the sweeper aborts and deletes it.
    expires_at: datetime = Field(index=True)


class UploadPart(SQLModel, table=True):
    __tablename__ = "evidence_upload_parts"
    __table_args__ = (UniqueConstraint("upload_id", "part_number"),)

    id: int | None = Field(default=None, primary_key=True)
    upload_id: str = Field(index=True, max_length=64)
    part_number: int
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    etag: str = Field(max_length=128)
    received_at: datetime = Field(default_factory=_now)


class DailyReport(SQLModel, table=True):
    """A laporan harian against a monthly target of the plan, reviewed by the assessor."""

    __tablename__ = "evidence_daily_reports"

    report_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    period_id: str = Field(max_length=64)
    teacher_nip: str = Field(index=True, max_length=32)
    school_npsn: str = Field(max_length=16)
    target_id: str = Field(max_length=64)
    report_date: date = Field(index=True)
    activity: str = Field(sa_column=Column(Text, nullable=False))
    # Evidence files of the same plan attached to it (JSON list of evidence ids).
    evidence_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    status: str = Field(default="submitted", max_length=16)  # submitted | accepted | needs_fix
    review_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reviewed_by: str | None = Field(default=None, max_length=32)
    reviewed_at: datetime | None = None
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class CompetencyRecord(SQLModel, table=True):
    """A competency-development activity with its points and proof, verified by the assessor."""

    __tablename__ = "evidence_competency_records"

    record_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    period_id: str = Field(index=True, max_length=64)
    teacher_nip: str = Field(index=True, max_length=32)
    school_npsn: str = Field(max_length=16)
    item_id: str | None = Field(default=None, max_length=64)
    activity_type: str = Field(max_length=32)
    title: str = Field(max_length=300)
    points: int
    evidence_id: str = Field(max_length=64)
    status: str = Field(default="submitted", max_length=16)  # submitted | verified | rejected
    review_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reviewed_by: str | None = Field(default=None, max_length=32)
    reviewed_at: datetime | None = None
    created_at: datetime = Field(default_factory=_now)


class PendingObject(SQLModel, table=True):
    """An object key that may exist in storage without an evidence row owning it: committed
    before the object is written (an upload) or in the transaction that deletes its row (a
    withdrawal), deleted in the transaction that commits the row (an upload) or after the
    object is removed. What a process killed in between leaves is removed by the sweep
    (service_layer/pending.py); an object an evidence row owns never is."""

    __tablename__ = "evidence_pending_objects"

    object_key: str = Field(primary_key=True, max_length=255)
    # single | parts (an S3 multipart upload before its session row) | delete
    reason: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=_now, index=True)
    # Set by the sweep before it removes the object: from then on no row may be committed
    # for the key (the upload's commit deletes only an unclaimed record, else it fails).
    claimed_at: datetime | None = None


class UploadOwner(SQLModel, table=True):
    """One row per teacher who has started a resumable upload, locked (by an upsert) by every
    start: counting the teacher's open sessions and adding one is then one step, whichever
    replica serves the request (the cap on open uploads per user)."""

    __tablename__ = "evidence_upload_owners"

    owner_nip: str = Field(primary_key=True, max_length=32)
    last_started_at: datetime = Field(default_factory=_now)


TABLES = [
    PlanView.__table__, PlanItemView.__table__, MonthlyTargetView.__table__,
    PeriodView.__table__, FinalizedAssessment.__table__, Evidence.__table__,
    UploadSession.__table__, UploadPart.__table__, DailyReport.__table__,
    CompetencyRecord.__table__, PendingObject.__table__, UploadOwner.__table__,
]
