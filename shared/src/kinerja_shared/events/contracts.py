"""The event contracts, version 1. Each class is one (type, version) on the wire.

Changing a contract incompatibly means a new class with ``version = 2`` beside the old one;
tests/contract checks that committed docs/asyncapi.yaml matches what is registered here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
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


@register
class DailyReportSubmitted(EventContract):
    """A laporan harian: what a teacher did on a day against a monthly target."""

    context = "evidence"
    aggregate = "daily_report"
    event = "submitted"

    report_id: str
    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    target_id: str
    report_date: date
    activity: str
    evidence_ids: list[str] = Field(default_factory=list)
    submitted_at: datetime


@register
class DailyReportReviewed(EventContract):
    """The assessor accepted a daily report or asked for a fix (with a note)."""

    context = "evidence"
    aggregate = "daily_report"
    event = "reviewed"

    report_id: str
    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    report_date: date
    decision: Literal["accepted", "needs_fix"]
    note: str = ""
    reviewed_by: str
    reviewed_at: datetime


@register
class CompetencyActivityRecorded(EventContract):
    """A competency-development activity (pelatihan, belajar mandiri PMM, komunitas belajar)
    with its points and the certificate or report that proves it."""

    context = "evidence"
    aggregate = "competency"
    event = "recorded"

    record_id: str
    plan_id: str
    period_id: str
    item_id: str | None = None
    teacher_nip: str
    school_npsn: str
    activity_type: str
    title: str
    points: int
    evidence_id: str
    recorded_at: datetime


@register
class CompetencyActivityReviewed(EventContract):
    """The assessor verified or rejected a competency activity; ``verified_points_total`` is
    the teacher's verified points in the period after this review."""

    context = "evidence"
    aggregate = "competency"
    event = "reviewed"

    record_id: str
    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    decision: Literal["verified", "rejected"]
    reason: str = ""
    points: int
    verified_points_total: int
    reviewed_by: str
    reviewed_at: datetime


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
    # Optional, added later (defaults keep older events valid):
    angka_kredit: Decimal | None = Field(
        None, description="AK of this period (PermenPANRB 1/2023), 2 decimals half up; null when the jenjang is unknown"
    )
    corrects_version: int | None = Field(
        None, description="set on a correction: the version this one replaces (same assessment_id, an update downstream)"
    )
    correction_reason: str | None = None


@register
class AssessmentRated(EventContract):
    """The PPK recorded (or changed) the ratings of an open assessment; a draft until finalized."""

    context = "assessment"
    aggregate = "assessment"
    event = "rated"

    assessment_id: str
    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    rating_hasil_kerja: Rating
    rating_perilaku_kerja: Rating
    predikat: Predikat
    perilaku_per_nilai: dict[str, Rating] = Field(default_factory=dict, description="BerAKHLAK value -> rating")
    rated_by: str
    rated_at: datetime


@register
class AssessmentCorrected(EventContract):
    """A final assessment corrected: a new version with a reason (the PPK's or the Dinas', or
    the outcome of an objection). The full new snapshot follows as AssessmentFinalized with the
    same assessment_id and this version, which downstream mirrors apply as an update."""

    context = "assessment"
    aggregate = "assessment"
    event = "corrected"

    assessment_id: str
    assessment_version: int
    corrects_version: int
    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    previous_rating_hasil_kerja: Rating
    previous_rating_perilaku_kerja: Rating
    previous_predikat: Predikat
    rating_hasil_kerja: Rating
    rating_perilaku_kerja: Rating
    predikat: Predikat
    predikat_code: int
    angka_kredit: Decimal | None = None
    reason: str
    corrected_by: str
    corrected_by_role: Literal["ppk", "dinas"]
    objection_id: str | None = None
    corrected_at: datetime


@register
class AssessmentAcknowledged(EventContract):
    """The assessed person acknowledged a final version."""

    context = "assessment"
    aggregate = "assessment"
    event = "acknowledged"

    assessment_id: str
    assessment_version: int
    teacher_nip: str
    school_npsn: str
    acknowledged_at: datetime


@register
class AssessmentObjectionFiled(EventContract):
    """A keberatan against a final version, within the policy's window."""

    context = "assessment"
    aggregate = "objection"
    event = "filed"

    objection_id: str
    assessment_id: str
    assessment_version: int
    teacher_nip: str
    school_npsn: str
    reason: str
    deadline: date
    filed_at: datetime


@register
class AssessmentObjectionDecided(EventContract):
    """The Dinas decided a keberatan; an accepted one names the correction it produced."""

    context = "assessment"
    aggregate = "objection"
    event = "decided"

    objection_id: str
    assessment_id: str
    assessment_version: int
    teacher_nip: str
    school_npsn: str
    decision: Literal["DITERIMA", "DITOLAK"]
    reason: str
    correction_version: int | None = None
    decided_by: str
    decided_at: datetime


@register
class ObservationStageRecorded(EventContract):
    """One stage (A..E) of the Observasi Praktik Kinerja."""

    context = "assessment"
    aggregate = "observation"
    event = "stage_recorded"

    assessment_id: str
    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    stage: Literal["A", "B", "C", "D", "E"]
    stage_label: str
    held_on: date
    participants: list[str]
    notes: str = ""
    recorded_by: str
    recorded_at: datetime
    lesson_plan_evidence_id: str | None = Field(
        None, description="stage A: the lesson plan (modul ajar) uploaded to the evidence service"
    )


class ObservationScore(EventContract):
    behaviour: str
    level: Literal["BELUM_DILAKUKAN", "BELUM_EFEKTIF", "EFEKTIF"]
    evidence_notes: str
    follow_up: str


@register
class ObservationScored(EventContract):
    """The focus behaviours scored on the three levels (replaces earlier scores)."""

    context = "assessment"
    aggregate = "observation"
    event = "scored"

    assessment_id: str
    teacher_nip: str
    school_npsn: str
    scores: list[ObservationScore]
    scored_by: str
    scored_at: datetime


@register
class ObservationJudged(EventContract):
    """The assessor's judgement of Upaya Refleksi, Upaya Mempelajari and Perubahan Praktik."""

    context = "assessment"
    aggregate = "observation"
    event = "judged"

    assessment_id: str
    teacher_nip: str
    school_npsn: str
    upaya_refleksi: str
    upaya_mempelajari: str
    perubahan_praktik: str
    note: str
    judged_by: str
    judged_at: datetime


@register
class AssessmentDeadlineExtended(EventContract):
    """The Dinas extended the assessment deadline of a period (npsn null: every school)."""

    context = "assessment"
    aggregate = "period"
    event = "deadline_extended"

    period_id: str
    npsn: str | None = None
    until: date
    reason: str
    granted_by: str
    granted_at: datetime


@register
class OrganisationPredikatSet(EventContract):
    """The organisation's own predikat, which the distribution check compares against."""

    context = "assessment"
    aggregate = "organisation"
    event = "predikat_set"

    period_id: str
    npsn: str
    predikat: Literal["ISTIMEWA", "BAIK", "BUTUH_PERBAIKAN", "KURANG", "SANGAT_KURANG"]
    set_by: str
    set_at: datetime



@register
class PeriodicReviewRecorded(EventContract):
    """A periodic review (monthly "YYYY-MM" or quarterly "YYYY-Qn") of an annual assessment under
    a policy with periodic reviews (ruang-gtk-2025): an input to the annual predikat."""

    context = "assessment"
    aggregate = "assessment"
    event = "periodic_review_recorded"

    assessment_id: str
    teacher_nip: str
    school_npsn: str
    review: str
    progress: Rating
    feedback: str
    reviewed_by: str
    reviewed_at: datetime


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
    # The attempt's outcome: "acknowledged" (saved now) or "already_stored" (found by reading
    # e-Kinerja before a re-send). Optional: added after version 1 was published.
    outcome: str | None = None
    # BKN's message (or how the record was found). Optional: added after version 1.
    message: str | None = None


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
    # The attempt's outcome (rate_limited, server_error, timeout, connection_error, auth_failed,
    # rejected, no_record_id, interrupted, not_sent). Optional: added after version 1.
    outcome: str | None = None


@register
class EkinerjaSyncRequeued(EventContract):
    """A parked record went back to the queue: by an operator (HTTP or CLI), or because a
    roster import from planning fixed what it was parked for. ``requeued_by`` says who or what;
    ``previous_message`` is the reason it had been parked for."""

    context = "ekinerja"
    aggregate = "sync"
    event = "requeued"

    assessment_id: str
    assessment_version: int
    teacher_nip: str
    school_npsn: str
    attempt: int
    requeued_by: str
    message: str
    previous_message: str | None = None
    requeued_at: datetime


# Agreed plans (SKP) and periodic reviews mirrored to e-Kinerja: their own events, so that a
# downstream system reading ekinerja.sync.* (final results, keyed by assessment) is not handed
# a plan id as an assessment id.

ResponsibleActor = Literal["guru", "operator_sekolah", "operator_dinas", "bkd", "bkn", "sistem"]


@register
class EkinerjaSkpSyncSucceeded(EventContract):
    """An agreed plan (SKP, one revision) is in e-Kinerja: saved now ("acknowledged") or found
    there before a re-send ("already_stored"). A later revision (re-approved after a return)
    updates the same e-Kinerja record: the same ``ekinerja_record_id``."""

    context = "ekinerja"
    aggregate = "skp_sync"
    event = "succeeded"

    plan_id: str
    plan_revision: int
    period_id: str
    teacher_nip: str
    school_npsn: str
    attempt: int
    ekinerja_record_id: str
    synced_at: datetime
    outcome: str
    message: str


@register
class EkinerjaSkpSyncFailed(EventContract):
    """An attempt to mirror an agreed plan (SKP) failed: retried later, or parked with BKN's (or
    our) message and the actor who must act. Attempt 0 / outcome ``not_sent``: the plan could
    not be mapped (e.g. the teacher is not in the roster) and e-Kinerja was not called."""

    context = "ekinerja"
    aggregate = "skp_sync"
    event = "failed"

    plan_id: str
    plan_revision: int
    period_id: str
    teacher_nip: str
    school_npsn: str
    attempt: int
    status: Literal["retrying", "parked"]
    http_status: int | None
    message: str
    responsible_actor: ResponsibleActor
    failed_at: datetime
    outcome: str


@register
class EkinerjaSkpSyncRequeued(EventContract):
    """A parked SKP record went back to the queue: by an operator, or because planning's
    roster or period fixed what it was parked for (``requeued_by`` says which)."""

    context = "ekinerja"
    aggregate = "skp_sync"
    event = "requeued"

    plan_id: str
    plan_revision: int
    period_id: str
    teacher_nip: str
    school_npsn: str
    attempt: int
    requeued_by: str
    message: str
    previous_message: str | None = None
    requeued_at: datetime


@register
class EkinerjaPeriodicReviewSyncSucceeded(EventContract):
    """A periodic review (ruang-gtk-2025: monthly "YYYY-MM" or quarterly "YYYY-Qn") is in
    e-Kinerja. A review recorded again updates the same e-Kinerja record; ``review_version``
    counts the recordings of that review."""

    context = "ekinerja"
    aggregate = "periodic_review_sync"
    event = "succeeded"

    assessment_id: str
    review: str
    review_version: int
    teacher_nip: str
    school_npsn: str
    attempt: int
    ekinerja_record_id: str
    synced_at: datetime
    outcome: str
    message: str


@register
class EkinerjaPeriodicReviewSyncFailed(EventContract):
    """An attempt to mirror a periodic review failed: retried later, or parked with the message
    and the actor who must act (attempt 0 / ``not_sent``: it could not be mapped)."""

    context = "ekinerja"
    aggregate = "periodic_review_sync"
    event = "failed"

    assessment_id: str
    review: str
    review_version: int
    teacher_nip: str
    school_npsn: str
    attempt: int
    status: Literal["retrying", "parked"]
    http_status: int | None
    message: str
    responsible_actor: ResponsibleActor
    failed_at: datetime
    outcome: str


@register
class EkinerjaPeriodicReviewSyncRequeued(EventContract):
    """A parked periodic-review record went back to the queue (operator, or a roster fix)."""

    context = "ekinerja"
    aggregate = "periodic_review_sync"
    event = "requeued"

    assessment_id: str
    review: str
    review_version: int
    teacher_nip: str
    school_npsn: str
    attempt: int
    requeued_by: str
    message: str
    previous_message: str | None = None
    requeued_at: datetime
