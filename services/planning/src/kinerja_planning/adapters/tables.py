"""The planning service's tables and the mapping between plan rows and the domain's Plan."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from kinerja_planning.domain.plans import HistoryEntry, Plan


def _now() -> datetime:
    return datetime.now(timezone.utc)


class School(SQLModel, table=True):
    __tablename__ = "planning_schools"

    npsn: str = Field(primary_key=True, max_length=8)
    name: str = Field(max_length=255)
    region_code: str = Field(index=True, max_length=6)
    # Dapodik: bentuk pendidikan (SD, SMP, ...), negeri/swasta, the province's kode wilayah.
    jenjang: str = Field(default="", max_length=16)
    status: str = Field(default="", max_length=16)
    province_code: str = Field(default="", max_length=6)
    updated_at: datetime = Field(default_factory=_now)


class Person(SQLModel, table=True):
    """A guru, kepala sekolah or pengawas, and who assesses them (their PPK)."""

    __tablename__ = "planning_people"

    nip: str = Field(primary_key=True, max_length=18)
    name: str = Field(max_length=255)
    role: str = Field(max_length=32)
    jabatan: str = Field(default="", max_length=255)
    jenjang: str = Field(default="", max_length=32)
    golongan: str = Field(default="", max_length=16)
    asn_status: str = Field(max_length=16)
    # Empty for a pengawas, who covers many schools.
    npsn: str | None = Field(default=None, index=True, max_length=8)
    region_code: str = Field(max_length=6)
    assessor_nip: str | None = Field(default=None, index=True, max_length=18)
    # Dapodik identity and PTK type; empty when the file did not carry them.
    nuptk: str = Field(default="", max_length=16)
    nik: str = Field(default="", max_length=16)
    jenis_ptk: str = Field(default="", max_length=64)
    # Absent from a complete import of their school: kept (plans refer to them), npsn cleared.
    left_at: datetime | None = None
    left_npsn: str | None = Field(default=None, max_length=8)
    updated_at: datetime = Field(default_factory=_now)


class RosterImport(SQLModel, table=True):
    """One accepted roster file: who imported it and what it held (an audit trail)."""

    __tablename__ = "planning_roster_imports"

    import_id: str = Field(primary_key=True, max_length=64)
    imported_by: str = Field(max_length=128)
    imported_by_role: str = Field(max_length=32)
    schools: int
    people: int
    imported_at: datetime = Field(default_factory=_now)


class Period(SQLModel, table=True):
    __tablename__ = "planning_periods"
    __table_args__ = (UniqueConstraint("policy", "year", "semester", name="uq_planning_period"),)

    period_id: str = Field(primary_key=True, max_length=64)
    policy: str = Field(max_length=32)
    year: int
    semester: int | None = None
    name: str = Field(max_length=64)
    starts_on: date
    ends_on: date
    month_start: int
    month_end: int
    status: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=_now)
    opened_at: datetime | None = None
    closed_at: datetime | None = None


class PlanRow(SQLModel, table=True):
    __tablename__ = "planning_plans"
    # One plan per teacher and period; the database enforces it even under concurrent requests.
    __table_args__ = (UniqueConstraint("period_id", "teacher_nip", name="uq_planning_plan_teacher"),)

    plan_id: str = Field(primary_key=True, max_length=64)
    period_id: str = Field(index=True, max_length=64)
    teacher_nip: str = Field(index=True, max_length=18)
    teacher_name: str = Field(max_length=255)
    school_npsn: str = Field(index=True, max_length=8)
    region_code: str = Field(max_length=6)
    assessor_nip: str = Field(index=True, max_length=18)
    indicators: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16)
    revision: int
    return_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    history: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)

    def to_domain(self) -> Plan:
        return Plan(
            plan_id=self.plan_id, period_id=self.period_id, teacher_nip=self.teacher_nip,
            teacher_name=self.teacher_name, school_npsn=self.school_npsn,
            region_code=self.region_code, assessor_nip=self.assessor_nip,
            indicators=list(self.indicators), summary=self.summary, status=self.status,
            revision=self.revision, return_reason=self.return_reason,
            history=[
                HistoryEntry(h["action"], h["by"], datetime.fromisoformat(h["at"]), h.get("reason"))
                for h in self.history
            ],
        )

    def update_from(self, plan: Plan) -> None:
        self.indicators = list(plan.indicators)
        self.summary = plan.summary
        self.status = plan.status
        self.revision = plan.revision
        self.return_reason = plan.return_reason
        # A new list object, so SQLAlchemy sees the JSON column changed.
        self.history = [
            {"action": h.action, "by": h.by, "at": h.at.isoformat(), "reason": h.reason}
            for h in plan.history
        ]
        self.updated_at = _now()

    @classmethod
    def from_domain(cls, plan: Plan) -> PlanRow:
        row = cls(
            plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
            teacher_name=plan.teacher_name, school_npsn=plan.school_npsn,
            region_code=plan.region_code, assessor_nip=plan.assessor_nip,
            status=plan.status, revision=plan.revision,
        )
        row.update_from(plan)
        return row


TABLES = [
    School.__table__, Person.__table__, RosterImport.__table__, Period.__table__, PlanRow.__table__,
]
