"""The event contracts, version 1. Each class is one (type, version) on the wire.

Changing a contract incompatibly means a new class with ``version = 2`` beside the old one;
tests/contract checks that committed docs/asyncapi.yaml matches what is registered here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from kinerja_shared.events.envelope import EventContract, register

Rating = Literal["DI_ATAS", "SESUAI", "DI_BAWAH"]
Predikat = Literal["SANGAT_BAIK", "BAIK", "BUTUH_PERBAIKAN", "KURANG", "SANGAT_KURANG"]


class PersonRef(EventContract):
    """A person as other contexts need to know them (a snapshot, not a live reference)."""

    nip: str
    name: str
    role: Literal["guru", "kepala_sekolah", "pengawas"]
    jabatan: str = ""
    jenjang: str = Field("", description="Ahli Pertama / Ahli Muda / Ahli Madya / Ahli Utama")
    golongan: str = ""
    asn_status: Literal["PNS", "PPPK", "NON_ASN"] = "PNS"
    assessor_nip: str | None = None
    # Added later (optional). The NIK is deliberately not published: personal data that no
    # other context needs (UU PDP: share the minimum).
    nuptk: str = Field("", description="16 digits, empty when unknown")
    jenis_ptk: str = Field("", description="Dapodik jenis PTK, e.g. Guru Kelas, Guru Mapel, Kepala Sekolah")


class SchoolRef(EventContract):
    npsn: str
    name: str
    region: str
    # Added later (optional).
    jenjang: str = Field("", description="bentuk pendidikan: SD, SMP, SMA, SMK, SLB, ...")
    status: str = Field("", description="Negeri or Swasta, empty when unknown")
    province: str = Field("", description="the province's 6-digit kode wilayah, e.g. 020000")


# ---------------------------------------------------------------- planning

PlanItemKind = Literal["praktik_kinerja", "pengembangan_kompetensi", "tugas_tambahan"]


class PlanItem(EventContract):
    """One item of a plan (SKP) that evidence and observation attach to.

    ``code`` is the Rapor Pendidikan indicator (praktik_kinerja, e.g. "D.1" or "D.1.2"), the
    activity type (pengembangan_kompetensi: pelatihan, belajar_mandiri, komunitas_belajar, ...)
    or the duty (tugas_tambahan). ``points`` only for competency activities.
    """

    item_id: str
    kind: PlanItemKind
    code: str
    title: str
    points: int = 0
    focus_behaviours: list[str] = Field(default_factory=list)


class MonthlyTarget(EventContract):
    """A monthly target of the plan's hasil kerja ("target kerja bulanan"); month is YYYY-MM."""

    target_id: str
    month: str
    item_id: str | None = None
    description: str


@register
class RosterImported(EventContract):
    """A school's roster as imported: its people and who assesses whom."""

    context = "planning"
    aggregate = "roster"
    event = "imported"

    import_id: str
    school: SchoolRef
    people: list[PersonRef]
    left: list[str] = Field(
        default_factory=list,
        description="NIPs that left the school in this import (absent from a complete import of it; "
        "no longer in any school's roster)",
    )


Stage = Literal["perencanaan", "pelaksanaan", "penilaian"]


class PeriodStage(EventContract):
    """One stage window of a period, inclusive dates in Asia/Jakarta."""

    stage: Stage
    starts_on: date
    ends_on: date


@register
class PeriodOpened(EventContract):
    context = "planning"
    aggregate = "period"
    event = "opened"

    period_id: str
    policy: str
    year: int
    semester: int | None
    name: str
    starts_on: date
    ends_on: date
    month_start: int
    month_end: int
    stages: list[PeriodStage] = Field(default_factory=list)
    late_planning_deadline: date | None = None
    evidence_required: bool = True
    competency_points_min: int = 32
    competency_points_max: int = 128
    competency_points_max_per_activity: int | None = None


@register
class PeriodScheduleChanged(EventContract):
    """The Dinas adjusted a period's windows (within its policy's bounds)."""

    context = "planning"
    aggregate = "period"
    event = "schedule_changed"

    period_id: str
    stages: list[PeriodStage]
    late_planning_deadline: date | None = None
    changed_by: str
    changed_at: datetime


@register
class PeriodStageStarted(EventContract):
    """A stage began by the clock (Asia/Jakarta), without anyone pressing a button."""

    context = "planning"
    aggregate = "period"
    event = "stage_started"

    period_id: str
    stage: Stage
    starts_on: date
    ends_on: date
    started_at: datetime


@register
class PeriodClosed(EventContract):
    context = "planning"
    aggregate = "period"
    event = "closed"

    period_id: str
    closed_at: datetime


@register
class SchoolPrioritiesSet(EventContract):
    """A school's Rapor Pendidikan results and the priorities its principal chose."""

    context = "planning"
    aggregate = "school_priorities"
    event = "set"

    npsn: str
    period_id: str
    results: dict[str, Literal["BAIK", "SEDANG", "KURANG"]]
    priorities: list[str]
    set_by: str
    set_at: datetime


@register
class PlanDraftSaved(EventContract):
    """A step of a draft plan was saved (no content: the plan is the teacher's until submitted)."""

    context = "planning"
    aggregate = "plan"
    event = "draft_saved"

    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    plan_kind: Literal["guru", "kepala_sekolah"] = "guru"
    step: str
    saved_at: datetime


@register
class PlanSubmitted(EventContract):
    context = "planning"
    aggregate = "plan"
    event = "submitted"

    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    assessor_nip: str
    indicators: list[str]
    plan_kind: Literal["guru", "kepala_sekolah"] = "guru"
    policy: str = "pmm-2024"
    items: list[PlanItem] = Field(default_factory=list)
    monthly_targets: list[MonthlyTarget] = Field(default_factory=list)
    competency_points: int = 0
    revision: int
    submitted_at: datetime


@register
class PlanApproved(EventContract):
    """The plan is "disepakati": this is the SKP that flows to e-Kinerja."""

    context = "planning"
    aggregate = "plan"
    event = "approved"

    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    assessor_nip: str
    indicators: list[str]
    plan_kind: Literal["guru", "kepala_sekolah"] = "guru"
    policy: str = "pmm-2024"
    items: list[PlanItem] = Field(default_factory=list)
    monthly_targets: list[MonthlyTarget] = Field(default_factory=list)
    competency_points: int = 0
    revision: int
    approved_by: str
    approved_at: datetime


@register
class PlanReturned(EventContract):
    """The plan is "dikembalikan" for revision, with the assessor's reason."""

    context = "planning"
    aggregate = "plan"
    event = "returned"

    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    revision: int
    reason: str
    returned_by: str
    returned_at: datetime


# ---------------------------------------------------------------- evidence


@register
class EvidenceUploaded(EventContract):
    context = "evidence"
    aggregate = "evidence"
    event = "uploaded"

    evidence_id: str
    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    sha256: str
    size_bytes: int
    content_type: str
    file_name: str
    uploaded_at: datetime
    # Added later, optional: the plan item it supports; whether the same bytes (SHA-256)
    # were already evidence elsewhere (another item, period or teacher) and which ones.
    item_id: str | None = None
    reuse_flagged: bool = False
    reuse_of: list[str] = Field(default_factory=list)
    upload_method: Literal["single", "parts", "presigned"] = "single"


@register
class EvidenceVerified(EventContract):
    """The assessor (PPK) accepted a bukti dukung."""

    context = "evidence"
    aggregate = "evidence"
    event = "verified"

    evidence_id: str
    plan_id: str
    period_id: str
    item_id: str | None = None
    teacher_nip: str
    school_npsn: str
    verified_by: str
    note: str = ""
    verified_at: datetime


@register
class EvidenceRejected(EventContract):
    """The assessor (PPK) rejected a bukti dukung, with the reason the teacher sees."""

    context = "evidence"
    aggregate = "evidence"
    event = "rejected"

    evidence_id: str
    plan_id: str
    period_id: str
    item_id: str | None = None
    teacher_nip: str
    school_npsn: str
    rejected_by: str
    reason: str
    rejected_at: datetime


@register
class EvidenceDeleted(EventContract):
    """The teacher withdrew a bukti dukung before the assessment was final; its object is gone."""

    context = "evidence"
    aggregate = "evidence"
    event = "deleted"

    evidence_id: str
    plan_id: str
    period_id: str
    item_id: str | None = None
    teacher_nip: str
    school_npsn: str
    sha256: str
    deleted_by: str
    deleted_at: datetime


# ---------------------------------------------------------------- assessment


@register
class AssessmentFinalized(EventContract):
    """A final result: everything e-Kinerja needs, as a snapshot at finalisation."""

    context = "assessment"
    aggregate = "assessment"
    event = "finalized"

    assessment_id: str
    assessment_version: int
    plan_id: str
    period_id: str
    year: int
    month_start: int
    month_end: int
    school_npsn: str
    teacher: PersonRef
    assessor: PersonRef
    assessor_unit: str
    rating_hasil_kerja: Rating
    rating_perilaku_kerja: Rating
    predikat: Predikat
    predikat_code: int
    finalized_at: datetime


# ---------------------------------------------------------------- ekinerja-sync


@register
class EkinerjaSyncSucceeded(EventContract):
    context = "ekinerja"
    aggregate = "sync"
    event = "succeeded"

    assessment_id: str
    assessment_version: int
    teacher_nip: str
    school_npsn: str
    attempt: int
    ekinerja_record_id: str
    synced_at: datetime


@register
class EkinerjaSyncFailed(EventContract):
    context = "ekinerja"
    aggregate = "sync"
    event = "failed"

    assessment_id: str
    assessment_version: int
    teacher_nip: str
    school_npsn: str
    attempt: int
    status: Literal["retrying", "parked"]
    http_status: int | None
    message: str
    responsible_actor: Literal["guru", "operator_sekolah", "operator_dinas", "bkd", "bkn", "sistem"]
    failed_at: datetime
