"""The evidence service's tables: its read model of plans and its evidence files."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, Column
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


class Evidence(SQLModel, table=True):
    """One bukti dukung file: where it lives in object storage and what it is."""

    __tablename__ = "evidence_files"

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


TABLES = [PlanView.__table__, Evidence.__table__]
