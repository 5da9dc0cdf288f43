"""Tables of ekinerja-sync: one row per finalized assessment version, one per attempt."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel


def _now() -> datetime:
    return datetime.now(timezone.utc)


class SyncRecord(SQLModel, table=True):
    __tablename__ = "sync_records"
    __table_args__ = (UniqueConstraint("assessment_id", "assessment_version", name="uq_sync_assessment_version"),)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    assessment_id: str = Field(index=True, max_length=64)
    assessment_version: int
    teacher_nip: str = Field(index=True, max_length=18)
    school_npsn: str = Field(index=True, max_length=8)
    region: str = Field(max_length=6)
    year: int
    month_start: int
    month_end: int
    # The SIASN-like payload (JSON), None when the result could not be mapped.
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(index=True, max_length=16)
    ekinerja_record_id: str | None = Field(default=None, max_length=64)
    attempt_count: int = 0
    # When the worker may pick it up; for "sending" this is the lease's end.
    next_attempt_at: datetime | None = Field(default=None, index=True)
    # BKN may hold the record although we never heard so: read before re-sending.
    ambiguous: bool = False
    last_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_http_status: int | None = None
    responsible_actor: str | None = Field(default=None, max_length=32)
    source_event_id: str = Field(max_length=64)
    # The result as finalized (FinalResult fields + finalized_at, JSON): re-mapped when a roster
    # import fixes what the record was parked for (domain/resume.py).
    result_snapshot: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    # What the record mirrors (domain/model.py): "hasil" (a final result), "skp" (an agreed plan)
    # or "review_periodik" (a periodic review). ``assessment_id`` is the key of what is mirrored
    # and ``assessment_version`` its version: for "skp" the plan id and its revision; for
    # "review_periodik" "<assessment id>:<review>" and the how-many-th recording of that review.
    # (Keys of different kinds never collide, so the versions of one key are always one kind.)
    kind: str = Field(default="hasil", max_length=16, index=True, sa_column_kwargs={"server_default": "hasil"})
    # "review_periodik": the review ("2025-03", "2025-Q1"); "skp": None.
    review: str | None = Field(default=None, max_length=8)
    # "skp": the plan's period (planning's period id), to find records waiting for PeriodOpened.
    period_id: str | None = Field(default=None, max_length=64, index=True)

    def payload_dict(self) -> dict[str, Any] | None:
        return json.loads(self.payload) if self.payload else None

    @property
    def subject_id(self) -> str:
        """The assessment (hasil, review_periodik) or plan (skp) the record mirrors."""
        return subject_id(self.kind, self.assessment_id, self.review)


def review_key(assessment_id: str, review: str) -> str:
    """The record key of a periodic review: "<assessment id>:<review>"."""
    return f"{assessment_id}:{review}"


def subject_id(kind: str | None, key: str, review: str | None) -> str:
    """The assessment or plan behind a record key (works on rows read with SQLAlchemy Core too)."""
    if kind == "review_periodik" and review and key.endswith(f":{review}"):
        return key[: -len(review) - 1]
    return key


class SyncAttempt(SQLModel, table=True):
    __tablename__ = "sync_attempts"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(foreign_key="sync_records.id", index=True, max_length=36)
    attempt: int
    at: datetime = Field(default_factory=_now)
    outcome: str = Field(max_length=32)
    http_status: int | None = None
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    responsible_actor: str | None = Field(default=None, max_length=32)


class PersonView(SQLModel, table=True):
    """Planning's latest roster data of a person (RosterImported): who an SKP or a periodic
    review is about and who agreed or gave it. A roster older than the row is ignored."""

    __tablename__ = "roster_people"

    nip: str = Field(primary_key=True, max_length=18)
    name: str = Field(max_length=255)
    role: str = Field(max_length=32)
    jabatan: str = Field(default="", max_length=255)
    jenjang: str = Field(default="", max_length=64)
    golongan: str = Field(default="", max_length=16)
    asn_status: str = Field(default="PNS", max_length=16)
    assessor_nip: str | None = Field(default=None, max_length=18)
    roster_at: datetime


class SchoolView(SQLModel, table=True):
    """A school as planning's latest roster names it: the unit (Unor) e-Kinerja knows."""

    __tablename__ = "roster_schools"

    npsn: str = Field(primary_key=True, max_length=8)
    name: str = Field(max_length=255)
    region: str = Field(max_length=6)
    roster_at: datetime


class PeriodView(SQLModel, table=True):
    """A period as planning opened it (PeriodOpened): the year and months of an SKP."""

    __tablename__ = "periods"

    period_id: str = Field(primary_key=True, max_length=64)
    policy: str = Field(max_length=32)
    year: int
    month_start: int
    month_end: int


TABLES = [SyncRecord.__table__, SyncAttempt.__table__, PersonView.__table__, SchoolView.__table__,
          PeriodView.__table__]
