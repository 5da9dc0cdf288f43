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

    def payload_dict(self) -> dict[str, Any] | None:
        return json.loads(self.payload) if self.payload else None


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


TABLES = [SyncRecord.__table__, SyncAttempt.__table__]
