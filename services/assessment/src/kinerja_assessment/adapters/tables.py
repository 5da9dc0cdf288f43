"""The assessment service's tables: its read models of other contexts' facts, and assessments."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(timezone.utc)


class RosterPerson(SQLModel, table=True):
    """A person as planning last announced them (RosterImported)."""

    __tablename__ = "assessment_people"

    nip: str = Field(primary_key=True, max_length=18)
    name: str
    role: str = Field(max_length=32)
    jabatan: str = ""
    jenjang: str = ""
    golongan: str = ""
    asn_status: str = Field("PNS", max_length=16)
    assessor_nip: str | None = Field(default=None, max_length=18)
    school_npsn: str | None = Field(default=None, index=True, max_length=8)
    school_name: str = ""
    region: str = Field("000000", max_length=6)


class PeriodView(SQLModel, table=True):
    __tablename__ = "assessment_periods"

    period_id: str = Field(primary_key=True, max_length=64)
    name: str
    policy: str
    year: int
    month_start: int
    month_end: int


class Assessment(SQLModel, table=True):
    __tablename__ = "assessments"

    assessment_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(unique=True, max_length=64)
    period_id: str = Field(index=True, max_length=64)
    teacher_nip: str = Field(index=True, max_length=18)
    school_npsn: str = Field(index=True, max_length=8)
    assessor_nip: str = Field(max_length=18)
    region: str = Field(max_length=6)
    version: int = 1
    status: str = Field("open", max_length=16)
    rating_hasil_kerja: str | None = None
    rating_perilaku_kerja: str | None = None
    rating_reason: str | None = None
    rated_by: str | None = None
    evidence_count: int = 0
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    finalized_at: datetime | None = None


class EvidenceView(SQLModel, table=True):
    """One row per piece of evidence seen, so counting is idempotent."""

    __tablename__ = "assessment_evidence"

    evidence_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    sha256: str = Field(max_length=64)


TABLES = [t.__table__ for t in (RosterPerson, PeriodView, Assessment, EvidenceView)]
