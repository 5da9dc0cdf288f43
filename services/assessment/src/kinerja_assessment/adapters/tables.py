"""The assessment service's tables: its read models of other contexts' facts, assessments and
their versions, observations, objections, extensions and organisation predikat."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import Column, Index, Text, text
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _text(default: str) -> Column:
    """A JSON document kept as text (the same on SQLite and PostgreSQL)."""
    return Column(Text, nullable=False, server_default=text(f"'{default}'"))


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
    # When the roster this row holds was imported (its envelope's time): an older roster that
    # arrives late changes nothing. None: written before this was kept.
    roster_at: datetime | None = None


class PeriodView(SQLModel, table=True):
    __tablename__ = "assessment_periods"

    period_id: str = Field(primary_key=True, max_length=64)
    name: str
    policy: str
    year: int
    month_start: int
    month_end: int
    semester: int | None = None
    # [{"stage", "starts_on", "ends_on"}] from PeriodOpened / PeriodScheduleChanged
    stages: str = Field(default="[]", sa_column=_text("[]"))
    competency_points_min: int = Field(32, sa_column_kwargs={"server_default": "32"})
    # changed_at of the newest PeriodScheduleChanged applied: an older change arriving late (or a
    # PeriodOpened sent again) does not undo it.
    schedule_at: datetime | None = None


class Assessment(SQLModel, table=True):
    __tablename__ = "assessments"
    __table_args__ = (
        # Recaps group by these (district / province level: region prefix; school level: npsn).
        Index("ix_assessments_period_region_status", "period_id", "region", "status"),
        Index("ix_assessments_period_school_status", "period_id", "school_npsn", "status"),
    )

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
    plan_kind: str = Field("guru", max_length=16, sa_column_kwargs={"server_default": "guru"})
    # PlanApproved.items: [{item_id, kind, code, title, points, focus_behaviours}]
    plan_items: str = Field(default="[]", sa_column=_text("[]"))
    reason_hasil_kerja: str | None = None
    reason_perilaku_kerja: str | None = None
    perilaku_per_nilai: str | None = None  # JSON {value: {rating, reason}}
    predikat: str | None = Field(default=None, max_length=16)
    jenjang: str = Field("", max_length=16, sa_column_kwargs={"server_default": ""})
    angka_kredit: Decimal | None = Field(default=None, max_digits=8, decimal_places=2)
    # The teacher's response to the current version: "diterima_guru" or "keberatan".
    response: str | None = Field(default=None, max_length=16)
    responded_version: int | None = None
    responded_at: datetime | None = None
    # PlanApproved.monthly_targets: [{target_id, month, item_id, description}]
    monthly_targets: str = Field(default="[]", sa_column=_text("[]"))
    # The plan revision whose items and targets these are: an older approval arriving late does
    # not overwrite a newer one's.
    plan_revision: int = Field(0, sa_column_kwargs={"server_default": "0"})


class AssessmentVersion(SQLModel, table=True):
    """Every final version, never edited: version 1 at finalisation, then one per correction."""

    __tablename__ = "assessment_versions"

    assessment_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    kind: str = Field(max_length=16)  # "final" | "koreksi"
    rating_hasil_kerja: str = Field(max_length=16)
    rating_perilaku_kerja: str = Field(max_length=16)
    predikat: str = Field(max_length=16)
    angka_kredit: Decimal | None = Field(default=None, max_digits=8, decimal_places=2)
    reason: str
    created_by: str = Field(max_length=18)
    created_by_role: str = Field(max_length=32)
    objection_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=_now)


class Objection(SQLModel, table=True):
    __tablename__ = "assessment_objections"

    objection_id: str = Field(primary_key=True, max_length=64)
    assessment_id: str = Field(index=True, max_length=64)
    version: int
    reason: str
    filed_by: str = Field(max_length=18)
    filed_at: datetime = Field(default_factory=_now)
    status: str = Field("diajukan", max_length=16)
    decision_reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    correction_version: int | None = None


class ObservationStage(SQLModel, table=True):
    __tablename__ = "observation_stages"

    assessment_id: str = Field(primary_key=True, max_length=64)
    stage: str = Field(primary_key=True, max_length=1)
    held_on: date
    participants: str = Field(default="[]", sa_column=_text("[]"))
    notes: str = ""
    recorded_by: str = Field(max_length=18)
    recorded_at: datetime = Field(default_factory=_now)
    lesson_plan_evidence_id: str | None = Field(default=None, max_length=64)


class Observation(SQLModel, table=True):
    __tablename__ = "observations"

    assessment_id: str = Field(primary_key=True, max_length=64)
    observer_nip: str = Field(max_length=18)
    scores: str = Field(default="[]", sa_column=_text("[]"))
    judgement: str | None = None  # JSON
    updated_at: datetime = Field(default_factory=_now)


class Extension(SQLModel, table=True):
    """A Dinas extension of the assessment deadline, for one school (``npsn``, ``region`` its
    district) or for every school of the period in the granting Dinas' region (npsn "",
    ``region`` the Dinas' claim: a district, or a province ``xx0000``). A row from before
    regions were kept (npsn "", region "") covers every school, as it did when granted."""

    __tablename__ = "assessment_extensions"

    period_id: str = Field(primary_key=True, max_length=64)
    npsn: str = Field(primary_key=True, max_length=8)
    region: str = Field("", primary_key=True, max_length=6)
    until: date
    reason: str
    granted_by: str = Field(max_length=64)
    granted_at: datetime = Field(default_factory=_now)


class OrganisationPredikat(SQLModel, table=True):
    """The organisation's own predikat (set by the Dinas) the distribution check compares with."""

    __tablename__ = "organisation_predikat"

    period_id: str = Field(primary_key=True, max_length=64)
    npsn: str = Field(primary_key=True, max_length=8)
    predikat: str = Field(max_length=16)
    set_by: str = Field(max_length=64)
    set_at: datetime = Field(default_factory=_now)


class PeriodicReview(SQLModel, table=True):
    """A monthly or quarterly review of an annual assessment (ruang-gtk-2025)."""

    __tablename__ = "periodic_reviews"

    assessment_id: str = Field(primary_key=True, max_length=64)
    review: str = Field(primary_key=True, max_length=8)  # "2026-03" or "2026-Q1"
    progress: str = Field(max_length=16)
    feedback: str
    reviewed_by: str = Field(max_length=18)
    reviewed_at: datetime = Field(default_factory=_now)


class EvidenceView(SQLModel, table=True):
    """One row per piece of evidence seen, so counting is idempotent. Its review state is the
    latest of the review events by their own time (they may arrive out of order)."""

    __tablename__ = "assessment_evidence"

    evidence_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    sha256: str = Field(max_length=64)
    item_id: str | None = Field(default=None, max_length=64)
    file_name: str = Field("", sa_column_kwargs={"server_default": ""})
    uploaded: bool = Field(True, sa_column_kwargs={"server_default": text("true")})
    reuse_flagged: bool = Field(False, sa_column_kwargs={"server_default": text("false")})
    reuse_of: str = Field(default="[]", sa_column=_text("[]"))
    status: str = Field("diunggah", max_length=16, sa_column_kwargs={"server_default": "diunggah"})
    status_at: datetime | None = None
    status_note: str = Field("", sa_column_kwargs={"server_default": ""})


class DailyReportView(SQLModel, table=True):
    """One row per laporan harian seen (DailyReportSubmitted / DailyReportReviewed), per teacher
    and period. Its state is the latest of its events by their own time (domain/daily_reports.py):
    a review that arrives before its submission creates the row, the submission fills in the
    target without undoing the review."""

    __tablename__ = "assessment_daily_reports"
    __table_args__ = (Index("ix_assessment_daily_reports_period_teacher", "period_id", "teacher_nip"),)

    report_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(max_length=64)
    period_id: str = Field(max_length=64)
    teacher_nip: str = Field(max_length=18)
    school_npsn: str = Field(max_length=8)
    target_id: str | None = Field(default=None, max_length=64)  # None until the submission arrives
    report_date: date
    report_month: str = Field(max_length=7)  # "YYYY-MM" of report_date, grouped on
    status: str = Field(max_length=16)  # submitted | accepted | needs_fix
    status_at: datetime
    submitted: bool = False  # a submission of it has arrived
    fix_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    fix_by: str | None = Field(default=None, max_length=18)
    fix_at: datetime | None = None  # the latest "needs_fix" review


TABLES = [
    t.__table__
    for t in (RosterPerson, PeriodView, Assessment, AssessmentVersion, Objection, ObservationStage,
              Observation, Extension, OrganisationPredikat, PeriodicReview, EvidenceView, DailyReportView)
]
