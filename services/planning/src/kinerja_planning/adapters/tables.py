"""The planning service's tables and the mapping between plan rows and the domain's Plan."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from kinerja_planning.domain.periods import Schedule
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
    # [{stage, starts_on, ends_on}] in stage order (domain.periods.Schedule).
    stages: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    late_planning_deadline: date | None = None
    periodic_review: str | None = Field(default=None, max_length=16)
    evidence_required: bool = True
    competency_points_min: int = 32
    competency_points_max: int = 128
    competency_points_max_per_activity: int = 32
    # Stages whose start the clock has already announced (PeriodStageStarted), so a tick
    # after downtime catches up without announcing twice.
    announced_stages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=_now)
    opened_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def schedule(self) -> Schedule:
        return Schedule.from_json(self.stages, self.late_planning_deadline)


class SchoolPriorities(SQLModel, table=True):
    """A school's Rapor Pendidikan results and the priorities its principal chose, per period."""

    __tablename__ = "planning_school_priorities"

    npsn: str = Field(primary_key=True, max_length=8)
    period_id: str = Field(primary_key=True, max_length=64)
    results: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    priorities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    set_by: str = Field(max_length=18)
    set_at: datetime = Field(default_factory=_now)


_STEP_COLUMNS = ("praktik_kinerja", "pengembangan_kompetensi", "tugas_tambahan", "perilaku_kerja", "target_bulanan")


class PlanRow(SQLModel, table=True):
    __tablename__ = "planning_plans"
    # One plan per person and period; the database enforces it even under concurrent requests.
    __table_args__ = (UniqueConstraint("period_id", "teacher_nip", name="uq_planning_plan_teacher"),)

    plan_id: str = Field(primary_key=True, max_length=64)
    period_id: str = Field(index=True, max_length=64)
    # guru or kepala_sekolah (a principal's own plan, assessed by their pengawas).
    kind: str = Field(default="guru", max_length=16)
    teacher_nip: str = Field(index=True, max_length=18)
    teacher_name: str = Field(max_length=255)
    school_npsn: str = Field(index=True, max_length=8)
    region_code: str = Field(index=True, max_length=6)
    assessor_nip: str = Field(index=True, max_length=18)
    # The Praktik Kinerja indicator codes, kept beside the steps for queries.
    indicators: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))  # step 5, Rangkuman
    praktik_kinerja: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    pengembangan_kompetensi: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tugas_tambahan: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    perilaku_kerja: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    target_bulanan: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    competency_points: int = 0
    status: str = Field(index=True, max_length=16)
    revision: int
    return_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    history: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    submitted_at: datetime | None = None
    approved_at: datetime | None = None
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)

    def to_domain(self) -> Plan:
        return Plan(
            plan_id=self.plan_id, period_id=self.period_id, kind=self.kind,
            teacher_nip=self.teacher_nip, teacher_name=self.teacher_name,
            school_npsn=self.school_npsn, region_code=self.region_code,
            assessor_nip=self.assessor_nip, status=self.status, revision=self.revision,
            praktik_kinerja=[dict(x) for x in self.praktik_kinerja],
            pengembangan_kompetensi=[dict(x) for x in self.pengembangan_kompetensi],
            tugas_tambahan=[dict(x) for x in self.tugas_tambahan],
            perilaku_kerja=dict(self.perilaku_kerja), rangkuman=self.summary,
            target_bulanan=[dict(x) for x in self.target_bulanan],
            return_reason=self.return_reason, submitted_at=self.submitted_at,
            approved_at=self.approved_at,
            history=[
                HistoryEntry(h["action"], h["by"], datetime.fromisoformat(h["at"]), h.get("reason"))
                for h in self.history
            ],
        )

    def update_from(self, plan: Plan) -> None:
        # New list/dict objects, so SQLAlchemy sees the JSON columns changed.
        for column in _STEP_COLUMNS:
            setattr(self, column, _copy(getattr(plan, column)))
        self.indicators = list(plan.indicators)
        self.summary = plan.rangkuman
        self.competency_points = plan.competency_points
        self.status = plan.status
        self.revision = plan.revision
        self.return_reason = plan.return_reason
        self.submitted_at = plan.submitted_at
        self.approved_at = plan.approved_at
        self.history = [
            {"action": h.action, "by": h.by, "at": h.at.isoformat(), "reason": h.reason}
            for h in plan.history
        ]
        self.updated_at = _now()

    @classmethod
    def from_domain(cls, plan: Plan) -> PlanRow:
        row = cls(
            plan_id=plan.plan_id, period_id=plan.period_id, kind=plan.kind,
            teacher_nip=plan.teacher_nip, teacher_name=plan.teacher_name,
            school_npsn=plan.school_npsn, region_code=plan.region_code,
            assessor_nip=plan.assessor_nip, status=plan.status, revision=plan.revision,
        )
        row.update_from(plan)
        return row


def _copy(value):
    return [dict(x) for x in value] if isinstance(value, list) else dict(value)


TABLES = [
    School.__table__, Person.__table__, RosterImport.__table__, Period.__table__, SchoolPriorities.__table__, PlanRow.__table__,
]
