"""Unit tests of the plan (SKP): each step's rules, submission reporting every problem at
once, the state machine, principals' plans, school priorities. No server, no database."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from kinerja_shared.errors import AppError

from kinerja_planning.domain.plans import (
    APPROVED, BERAKHLAK, DRAFT, RETURNED, SUBMITTED, Plan, PlanRules, check_priorities,
)
from kinerja_planning.domain.policy import rubric

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=timezone.utc)
TEACHER, ASSESSOR, OTHER = "198503122010012001", "197204151998022001", "198711052011011002"
MONTHS = tuple(f"2026-{m:02d}" for m in range(1, 7))
EXPECTATIONS = {v: f"Ekspektasi {label}" for v, label in BERAKHLAK.items()}


def rules(kind="guru", priorities=("A.1", "D.1"), **overrides) -> PlanRules:
    values = dict(kind=kind, rubric=rubric(), priorities=frozenset(priorities), points_min=32,
                  points_max=128, points_max_per_activity=32, months=MONTHS,
                  target_months=MONTHS[1:5], monthly_targets_required=True)
    values.update(overrides)
    return PlanRules(**values)


def draft(kind="guru") -> Plan:
    return Plan.start(plan_id="p1", period_id="per1", kind=kind, teacher_nip=TEACHER, teacher_name="Dewi",
                      school_npsn="20212345", region_code="020500", assessor_nip=ASSESSOR, at=T0)


STEPS = {
    "praktik_kinerja": [{"item_id": "pk1", "indicator": "D.1.1", "focus_behaviours": ["Disiplin positif"]}],
    "pengembangan_kompetensi": [
        {"item_id": "c1", "activity_type": "komunitas_belajar", "title": "Kombel literasi", "points": 16},
        {"item_id": "c2", "activity_type": "pelatihan", "title": "Pelatihan asesmen", "points": 16},
    ],
    "tugas_tambahan": [{"duty": "Wali kelas 4"}],
    "rangkuman": "Fokus disiplin positif.",
    "target_bulanan": [{"month": f"2026-0{m}", "item_id": "pk1", "description": f"Target bulan {m}"} for m in range(2, 6)],
}


def complete(kind="guru", r: PlanRules | None = None) -> Plan:
    plan = draft(kind)
    steps = copy.deepcopy(STEPS)
    if kind == "kepala_sekolah":
        steps["praktik_kinerja"] = [{"item_id": "pk1", "indicator": "D.3.2", "focus_behaviours": ["Perencanaan berbasis data"]}]
    for step, value in steps.items():
        plan.save_step(step, value, r or rules(kind), by=TEACHER, at=T0)
    return plan


def codes(excinfo) -> list[str]:
    return [p["code"] for p in excinfo.value.details["problems"]]


def test_a_complete_plan_goes_draft_submitted_agreed():
    plan = complete()
    assert (plan.status, plan.revision, plan.competency_points, plan.indicators) == (DRAFT, 0, 32, ["D.1.1"])
    assert plan.tugas_tambahan[0]["item_id"]  # ids are generated when not given
    plan.submit(rules(), by=TEACHER, at=T0)
    assert (plan.status, plan.revision) == (SUBMITTED, 1)
    plan.approve(by=ASSESSOR, expectations=EXPECTATIONS, at=T0)
    assert plan.status == APPROVED and plan.perilaku_kerja == EXPECTATIONS
    assert [h.action for h in plan.history][-2:] == ["submitted", "approved"]


def test_an_indicator_the_school_did_not_prioritise_is_refused_and_nothing_changes():
    plan = draft()
    with pytest.raises(AppError) as excinfo:
        plan.save_step("praktik_kinerja", [{"indicator": "A.2", "focus_behaviours": ["Soal kontekstual dan penalaran"]}],
                       rules(), by=TEACHER, at=T0)
    assert (excinfo.value.code, excinfo.value.status_code) == ("indikator_bukan_prioritas", 422)
    assert "A.1, D.1" in excinfo.value.message
    assert plan.praktik_kinerja == [] and len(plan.history) == 1


def test_praktik_kinerja_needs_the_schools_priorities_and_known_focus_behaviours():
    plan = draft()
    step = [{"indicator": "D.1", "focus_behaviours": ["Disiplin positif"]}]
    with pytest.raises(AppError) as excinfo:
        plan.save_step("praktik_kinerja", step, rules(priorities=()), by=TEACHER, at=T0)
    assert excinfo.value.code == "prioritas_sekolah_belum_ditetapkan"
    with pytest.raises(AppError) as excinfo:
        plan.save_step("praktik_kinerja", [{"indicator": "D.1", "focus_behaviours": ["Menyanyi"]},
                                           {"indicator": "Z.9", "focus_behaviours": ["x"]},
                                           {"indicator": "A.1"}], rules(), by=TEACHER, at=T0)
    assert codes(excinfo) == ["perilaku_fokus_tidak_dikenal", "indikator_tidak_dikenal", "perilaku_fokus_wajib_diisi"]


def test_competency_points_per_activity_and_in_total():
    plan = draft()
    with pytest.raises(AppError) as excinfo:
        plan.save_step("pengembangan_kompetensi", [{"activity_type": "pelatihan", "title": "x", "points": 40}],
                       rules(), by=TEACHER, at=T0)
    assert excinfo.value.code == "poin_kegiatan_di_luar_batas"
    plan = complete()
    plan.save_step("pengembangan_kompetensi", [{"activity_type": "pelatihan", "title": "x", "points": 8}],
                   rules(), by=TEACHER, at=T0)
    with pytest.raises(AppError) as excinfo:
        plan.submit(rules(), by=TEACHER, at=T0)
    assert excinfo.value.code == "rencana_belum_lengkap"
    assert "poin_kompetensi_di_luar_batas" in codes(excinfo) and "antara 32 dan 128" in excinfo.value.message
    assert plan.status == DRAFT
    # Over the maximum: five activities of 30 = 150.
    plan.save_step("pengembangan_kompetensi", [{"activity_type": "pelatihan", "title": f"x{i}", "points": 30} for i in range(5)],
                   rules(), by=TEACHER, at=T0)
    with pytest.raises(AppError) as excinfo:
        plan.submit(rules(), by=TEACHER, at=T0)
    assert codes(excinfo) == ["poin_kompetensi_di_luar_batas"]


def test_a_monthly_target_outside_the_period_or_for_an_unknown_item_is_refused():
    plan = complete()
    before = copy.deepcopy(plan.target_bulanan)
    with pytest.raises(AppError) as excinfo:
        plan.save_step("target_bulanan", [{"month": "2026-07", "description": "x"},
                                          {"month": "2026-03", "item_id": "nope", "description": "x"}],
                       rules(), by=TEACHER, at=T0)
    assert codes(excinfo) == ["target_di_luar_periode", "isian_rencana_tidak_ada"]
    assert plan.target_bulanan == before


def test_submission_reports_every_problem_at_once():
    plan = draft()
    plan.save_step("target_bulanan", [{"month": "2026-02", "description": "x"}], rules(), by=TEACHER, at=T0)
    with pytest.raises(AppError) as excinfo:
        plan.submit(rules(), by=TEACHER, at=T0)
    assert codes(excinfo) == ["praktik_kinerja_wajib_diisi", "poin_kompetensi_di_luar_batas", "target_bulanan_belum_lengkap"]
    assert "2026-03, 2026-04, 2026-05" in excinfo.value.message
    assert plan.status == DRAFT and plan.revision == 0


def test_priorities_that_changed_after_saving_are_caught_at_submission():
    plan = complete()
    with pytest.raises(AppError) as excinfo:
        plan.submit(rules(priorities=("A.1",)), by=TEACHER, at=T0)
    assert codes(excinfo) == ["indikator_bukan_prioritas"]


def test_an_agreed_plan_cannot_be_edited():
    plan = complete()
    plan.submit(rules(), by=TEACHER, at=T0)
    with pytest.raises(AppError) as excinfo:
        plan.save_step("rangkuman", "baru", rules(), by=TEACHER, at=T0)
    assert (excinfo.value.code, excinfo.value.status_code) == ("status_rencana_tidak_sesuai", 409)
    plan.approve(by=ASSESSOR, expectations=EXPECTATIONS, at=T0)
    for act in (lambda: plan.save_step("rangkuman", "baru", rules(), by=TEACHER, at=T0),
                lambda: plan.submit(rules(), by=TEACHER, at=T0)):
        with pytest.raises(AppError) as excinfo:
            act()
        assert (excinfo.value.code, excinfo.value.status_code) == ("rencana_sudah_disepakati", 409)
    assert plan.rangkuman == "Fokus disiplin positif."


def test_return_needs_a_reason_then_edit_and_resubmit():
    plan = complete()
    plan.submit(rules(), by=TEACHER, at=T0)
    for reason in (None, "", "   "):
        with pytest.raises(AppError) as excinfo:
            plan.return_for_revision(by=ASSESSOR, reason=reason, at=T0)
        assert excinfo.value.code == "alasan_wajib_diisi"
    assert plan.status == SUBMITTED
    plan.return_for_revision(by=ASSESSOR, reason="Tambahkan target Mei", at=T0)
    assert (plan.status, plan.return_reason) == (RETURNED, "Tambahkan target Mei")
    plan.save_step("rangkuman", "Diperbaiki", rules(), by=TEACHER, at=T0)
    plan.submit(rules(), by=TEACHER, at=T0)
    assert (plan.status, plan.revision, plan.return_reason) == (SUBMITTED, 2, None)
    assert plan.history[-1].action == "resubmitted"


def test_only_the_owner_edits_and_only_the_assessor_agrees():
    plan = complete()
    with pytest.raises(AppError) as excinfo:
        plan.save_step("rangkuman", "x", rules(), by=OTHER, at=T0)
    assert excinfo.value.code == "akses_ditolak"
    plan.submit(rules(), by=TEACHER, at=T0)
    for act in (lambda: plan.approve(by=OTHER, expectations=EXPECTATIONS, at=T0),
                lambda: plan.return_for_revision(by=TEACHER, reason="x", at=T0)):
        with pytest.raises(AppError) as excinfo:
            act()
        assert (excinfo.value.code, excinfo.value.status_code) == ("bukan_penilai", 403)
    assert plan.status == SUBMITTED


def test_agreeing_needs_the_assessors_expectation_for_every_berakhlak_value():
    plan = complete()
    plan.submit(rules(), by=TEACHER, at=T0)
    partial = dict(list(EXPECTATIONS.items())[:5])
    with pytest.raises(AppError) as excinfo:
        plan.approve(by=ASSESSOR, expectations=partial, at=T0)
    assert excinfo.value.code == "ekspektasi_perilaku_belum_lengkap"
    assert "Adaptif, Kolaboratif" in excinfo.value.message
    assert plan.status == SUBMITTED and plan.perilaku_kerja == {}


def test_a_principals_plan_draws_on_d3_kepemimpinan_instruksional():
    plan = complete("kepala_sekolah", rules("kepala_sekolah", priorities=()))
    assert plan.indicators == ["D.3.2"]
    with pytest.raises(AppError) as excinfo:
        plan.save_step("praktik_kinerja", [{"indicator": "D.1", "focus_behaviours": ["Disiplin positif"]}],
                       rules("kepala_sekolah"), by=TEACHER, at=T0)
    assert excinfo.value.code == "indikator_bukan_kepemimpinan"


def test_school_priorities_come_from_recorded_results():
    results, chosen = check_priorities({"A.1": "kurang", "D.1": "Sedang", "D.4": "BAIK"}, ["A.1", "D.1", "A.1"], rubric())
    assert results == {"A.1": "KURANG", "D.1": "SEDANG", "D.4": "BAIK"} and chosen == ["A.1", "D.1"]
    with pytest.raises(AppError) as excinfo:
        check_priorities({"A.1": "Buruk", "Z.1": "BAIK"}, ["A.2"], rubric())
    assert excinfo.value.code == "prioritas_tidak_valid"
    assert len(excinfo.value.details["problems"]) == 3
