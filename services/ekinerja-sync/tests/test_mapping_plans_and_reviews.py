"""The SIASN-like mapping of agreed plans (rencanaskp) and periodic reviews (evaluasiperiodik),
field by field, the reasons a plan or a review cannot be sent, and how e-Kinerja's records are
recognised before a re-send (pure, no servers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from kinerja_ekinerja_sync.domain.mapping import (
    AgreedPlan,
    CannotMap,
    PeriodInfo,
    RecordedReview,
    RosterPerson,
    review_already_stored,
    review_months,
    review_same_period_record,
    skp_already_stored,
    skp_same_period_record,
    to_evaluasi_periodik,
    to_rencana_skp,
)
from kinerja_ekinerja_sync.domain.resume import relevant_changes
from kinerja_ekinerja_sync.service_layer import record_events

GURU = RosterPerson("198503122010012001", "Dewi Lestari, S.Pd.", "Guru Kelas", "Ahli Muda", "III/c", "PNS",
                    "197204151998022001")
KS = RosterPerson("197204151998022001", "Siti Rahmawati, S.Pd., M.Pd.", "Kepala Sekolah", "Ahli Madya", "IV/a",
                  "PNS", "196805141993031002")
PERIOD = PeriodInfo("p-2026-1", "pmm-2024", 2026, 1, 6)
UNIT = "SD Negeri 1 Cibinong"
PLAN = AgreedPlan(
    plan_id="plan-1", revision=2, period_id="p-2026-1", plan_kind="guru", policy="pmm-2024",
    teacher_nip=GURU.nip, school_npsn="20212345", assessor_nip=KS.nip, indicators=("A.1", "D.1"),
    items=(
        {"item_id": "i1", "kind": "praktik_kinerja", "code": "A.1", "title": "Literasi kelas 4", "points": 0,
         "focus_behaviours": ["aktivasi kognitif", "disiplin positif"]},
        {"item_id": "i2", "kind": "pengembangan_kompetensi", "code": "pelatihan", "title": "Pelatihan literasi",
         "points": 32, "focus_behaviours": []},
        {"item_id": "i3", "kind": "tugas_tambahan", "code": "wakil_kepala_sekolah", "title": "Wakasek kurikulum",
         "points": 0, "focus_behaviours": []},
    ),
    monthly_targets=(
        {"target_id": "t1", "month": "2026-02", "item_id": "i1", "description": "Modul ajar literasi"},
        {"target_id": "t2", "month": "2026-06", "item_id": None, "description": "Refleksi akhir semester"},
    ),
    competency_points=32, approved_on="2026-01-20",
)
REVIEW = RecordedReview(
    assessment_id="a-1", review="2026-Q2", teacher_nip=GURU.nip, school_npsn="20212345", progress="DI_ATAS",
    feedback="Target triwulan tercapai", reviewed_by=KS.nip, reviewed_on="2026-06-27",
)


def skp(plan=PLAN, period=PERIOD, teacher=GURU, assessor=KS, unit=UNIT):
    return to_rencana_skp(plan, period, teacher, assessor, unit)


def test_every_field_of_the_skp_payload():
    assert skp() == {
        "pnsDinilaiId": "198503122010012001",
        "pnsDinilaiNama": "Dewi Lestari, S.Pd.",
        "pnsDinilaiJabatanNama": "Guru Kelas",
        "pnsDinilaiGolongan": "III/c",
        "pnsDinilaiUnorNama": "SD Negeri 1 Cibinong",
        "jenisSkp": "GURU",
        "koefisienId": "2",
        "tahun": 2026,
        "bulanMulaiPenilaian": 1,
        "bulanSelesaiPenilaian": 6,
        "penilaiNama": "Siti Rahmawati, S.Pd., M.Pd.",
        "penilaiNipNrp": "197204151998022001",
        "penilaiGolongan": "IV/a",
        "penilaiJabatanNama": "Kepala Sekolah",
        "penilaiUnorNama": "SD Negeri 1 Cibinong",
        "statusPenilai": "ASN",
        "indikatorRaporPendidikan": ["A.1", "D.1"],
        "rencanaHasilKerja": [
            {"jenis": "praktik_kinerja", "kode": "A.1", "uraian": "Literasi kelas 4", "poin": 0,
             "perilakuFokus": ["aktivasi kognitif", "disiplin positif"]},
            {"jenis": "pengembangan_kompetensi", "kode": "pelatihan", "uraian": "Pelatihan literasi", "poin": 32,
             "perilakuFokus": []},
            {"jenis": "tugas_tambahan", "kode": "wakil_kepala_sekolah", "uraian": "Wakasek kurikulum", "poin": 0,
             "perilakuFokus": []},
        ],
        "targetBulanan": [
            {"bulan": "2026-02", "uraian": "Modul ajar literasi", "kodeRencana": "A.1"},
            {"bulan": "2026-06", "uraian": "Refleksi akhir semester", "kodeRencana": None},
        ],
        "poinPengembanganKompetensi": 32,
        "revisi": 2,
        "tanggalDisepakati": "2026-01-20",
    }


@pytest.mark.parametrize("jenjang, koefisien", [
    ("Ahli Pertama", "1"), ("Ahli Muda", "2"), ("Ahli Madya", "3"), ("Ahli Utama", "4"), (" Ahli Muda ", "2"),
])
def test_skp_koefisien_of_the_teachers_jenjang(jenjang, koefisien):
    assert skp(teacher=replace(GURU, jenjang=jenjang))["koefisienId"] == koefisien


def test_a_principals_skp_agreed_by_the_pengawas_and_the_assessors_asn_status():
    pengawas = RosterPerson("196805141993031002", "Drs. Hendra Gunawan, M.Pd.", "Pengawas Sekolah", "Ahli Madya",
                            "IV/b", "PNS", None)
    payload = skp(plan=replace(PLAN, plan_kind="kepala_sekolah", teacher_nip=KS.nip, assessor_nip=pengawas.nip),
                  teacher=KS, assessor=pengawas)
    assert (payload["jenisSkp"], payload["pnsDinilaiId"], payload["koefisienId"]) == ("KEPALA_SEKOLAH", KS.nip, "3")
    assert (payload["penilaiNipNrp"], payload["penilaiJabatanNama"]) == (pengawas.nip, "Pengawas Sekolah")
    assert skp(assessor=replace(KS, asn_status="NON_ASN"))["statusPenilai"] == "NON ASN"
    assert skp(assessor=replace(KS, asn_status="PPPK"))["statusPenilai"] == "ASN"
    # A plan of an annual period (ruang-gtk-2025) covers the whole year.
    year = skp(period=PeriodInfo("p-2026", "ruang-gtk-2025", 2026, 1, 12))
    assert (year["bulanMulaiPenilaian"], year["bulanSelesaiPenilaian"]) == (1, 12)


@pytest.mark.parametrize("changes, actor, words", [
    ({"period": None}, "sistem", "PeriodOpened"),
    ({"teacher": None}, "operator_sekolah", "belum ada di roster"),
    ({"teacher": replace(GURU, jenjang="Ahli Pratama")}, "operator_sekolah", "Jenjang"),
    ({"teacher": replace(GURU, golongan=" ")}, "operator_sekolah", "Golongan guru"),
    ({"teacher": replace(GURU, jabatan="")}, "operator_sekolah", "Jabatan guru"),
    ({"assessor": None}, "operator_sekolah", "pejabat penilai"),
    ({"assessor": replace(KS, name="")}, "operator_sekolah", "pejabat penilai"),
    ({"unit": None}, "operator_sekolah", "Unit organisasi"),
    ({"plan": replace(PLAN, items=())}, "sistem", "tanpa rencana hasil kerja"),
    ({"plan": replace(PLAN, plan_kind="pengawas")}, "sistem", "Jenis rencana"),
    ({"plan": replace(PLAN, monthly_targets=({"target_id": "t", "month": "2026-07", "description": "x"},))},
     "sistem", "di luar periode"),
    ({"plan": replace(PLAN, monthly_targets=({"target_id": "t", "month": "2025-02", "description": "x"},))},
     "sistem", "di luar periode"),
    ({"plan": replace(PLAN, monthly_targets=({"target_id": "t", "month": "Februari", "description": "x"},))},
     "sistem", "di luar periode"),
])
def test_a_plan_that_cannot_be_sent_says_why_and_who_must_act(changes, actor, words):
    with pytest.raises(CannotMap) as exc:
        skp(**changes)
    assert exc.value.responsible_actor == actor and words in exc.value.message, exc.value.message
    assert exc.value.message_en  # and in English for the logs


def test_a_principals_plan_without_its_pengawas_is_for_the_dinas():
    with pytest.raises(CannotMap) as exc:
        skp(plan=replace(PLAN, plan_kind="kepala_sekolah"), assessor=None)
    assert exc.value.responsible_actor == "operator_dinas"


def test_every_field_of_the_periodic_review_payload():
    assert to_evaluasi_periodik(REVIEW, GURU, KS, UNIT) == {
        "pnsDinilaiId": "198503122010012001",
        "tahun": 2026,
        "bulanMulaiPenilaian": 4,
        "bulanSelesaiPenilaian": 6,
        "periodikId": 2,
        "hasilKinerjaNilai": 1,
        "umpanBalik": "Target triwulan tercapai",
        "tanggalEvaluasi": "2026-06-27",
        "penilaiNama": "Siti Rahmawati, S.Pd., M.Pd.",
        "penilaiNipNrp": "197204151998022001",
        "penilaiGolongan": "IV/a",
        "penilaiJabatanNama": "Kepala Sekolah",
        "penilaiUnorNama": "SD Negeri 1 Cibinong",
        "statusPenilai": "ASN",
    }


@pytest.mark.parametrize("key, months", [
    ("2026-01", (2026, 1, 1, 1)), ("2026-12", (2026, 12, 12, 1)), ("2025-07", (2025, 7, 7, 1)),
    ("2026-Q1", (2026, 1, 3, 2)), ("2026-Q2", (2026, 4, 6, 2)), ("2026-Q3", (2026, 7, 9, 2)),
    ("2026-Q4", (2026, 10, 12, 2)),
])
def test_review_months_and_periodik(key, months):
    assert review_months(key) == months
    payload = to_evaluasi_periodik(replace(REVIEW, review=key), GURU, KS, UNIT)
    assert (payload["tahun"], payload["bulanMulaiPenilaian"], payload["bulanSelesaiPenilaian"], payload["periodikId"]) == months


@pytest.mark.parametrize("key", ["2026-13", "2026-00", "2026-Q5", "2026-Q0", "2026-3", "Q1-2026", "", "2026"])
def test_a_review_key_that_is_neither_monthly_nor_quarterly_cannot_be_sent(key):
    with pytest.raises(CannotMap) as exc:
        to_evaluasi_periodik(replace(REVIEW, review=key), GURU, KS, UNIT)
    assert exc.value.responsible_actor == "sistem" and "bulanan" in exc.value.message


@pytest.mark.parametrize("progress, code", [("DI_ATAS", 1), ("SESUAI", 2), ("DI_BAWAH", 3)])
def test_review_progress_codes(progress, code):
    assert to_evaluasi_periodik(replace(REVIEW, progress=progress), GURU, KS, UNIT)["hasilKinerjaNilai"] == code


def test_a_review_that_cannot_be_sent_says_why():
    with pytest.raises(CannotMap) as exc:
        to_evaluasi_periodik(replace(REVIEW, progress="BAGUS"), GURU, KS, UNIT)
    assert exc.value.responsible_actor == "sistem"
    with pytest.raises(CannotMap) as exc:
        to_evaluasi_periodik(REVIEW, None, KS, UNIT)
    assert exc.value.responsible_actor == "operator_sekolah" and GURU.nip in exc.value.message
    with pytest.raises(CannotMap) as exc:
        to_evaluasi_periodik(REVIEW, GURU, None, UNIT)
    assert exc.value.responsible_actor == "operator_sekolah" and KS.nip in exc.value.message
    assert to_evaluasi_periodik(REVIEW, GURU, replace(KS, asn_status="NON_ASN"), UNIT)["statusPenilai"] == "NON ASN"


def test_an_skp_already_in_ekinerja_is_recognised_by_nip_period_and_revision():
    payload = skp()
    stored = {**payload, "id": "X", "createdAt": 1.0}
    other_teacher = {**payload, "id": "Y", "pnsDinilaiId": "199001012015031001"}
    assert skp_already_stored([other_teacher, stored], payload) == "X"
    assert skp_already_stored([{**stored, "revisi": 1}], payload) is None  # the update not applied yet
    assert skp_already_stored([stored], {**payload, "id": "X"}) == "X"  # an update that did land
    assert skp_already_stored([stored], {**payload, "id": "Z"}) is None  # not the record it updates
    assert skp_already_stored([{**stored, "bulanMulaiPenilaian": 7, "bulanSelesaiPenilaian": 12}], payload) is None
    assert skp_already_stored([{k: v for k, v in stored.items() if k != "id"}], payload) is None
    # The record of the same NIP and period, whatever its revision: the one a later revision updates.
    assert skp_same_period_record([{**stored, "revisi": 1}], payload) == "X"
    assert skp_same_period_record([{**stored, "revisi": 1}], {**payload, "id": "other"}) == "X"
    assert skp_same_period_record([{**stored, "tahun": 2025}], payload) is None
    assert skp_same_period_record(["not a record", {"id": None}], payload) is None


def test_a_review_already_in_ekinerja_is_recognised_by_nip_months_and_values():
    payload = to_evaluasi_periodik(REVIEW, GURU, KS, UNIT)
    stored = {**payload, "id": "R"}
    assert review_already_stored([stored], payload) == "R"
    assert review_already_stored([{**stored, "hasilKinerjaNilai": 2}], payload) is None  # the re-recording not in yet
    assert review_already_stored([{**stored, "umpanBalik": "lama"}], payload) is None
    monthly = {**stored, "id": "M", "bulanMulaiPenilaian": 6, "periodikId": 1}
    assert review_already_stored([monthly], payload) is None  # June is not the second quarter
    assert review_same_period_record([monthly, {**stored, "hasilKinerjaNilai": 3}], payload) == "R"


def test_relevant_changes_for_any_kind_of_record():
    before = {"penilaiUnorNama": "SD Negeri Satu", "penilaiGolongan": "IV/a", "revisi": 1}
    after = {"penilaiUnorNama": "SD Negeri 1", "penilaiGolongan": "IV/a", "revisi": 1}
    assert relevant_changes(before, after, {"penilaiUnorNama"}) == {"penilaiUnorNama": ("SD Negeri Satu", "SD Negeri 1")}
    assert relevant_changes(before, after, {"penilaiGolongan"}) is None  # not what it was parked for
    assert relevant_changes(before, after, set()) is None  # nothing in planning's data fixes it
    assert relevant_changes(before, after, None) == {"penilaiUnorNama": ("SD Negeri Satu", "SD Negeri 1")}
    assert relevant_changes(before, before, None) is None
    assert relevant_changes(None, after, None) == {f: (None, v) for f, v in after.items()}  # mappable now


def test_events_name_what_the_record_mirrors():
    at = datetime(2026, 1, 20, tzinfo=timezone.utc)
    common = dict(teacher_nip=GURU.nip, school_npsn="20212345", period_id="p-2026-1", review=None)
    plan = SimpleNamespace(kind="skp", assessment_id="plan-1", assessment_version=3, **common)
    event = record_events.succeeded(plan, attempt=2, ekinerja_record_id="X", synced_at=at, outcome="acknowledged",
                                    message="ok")
    assert event.event_type() == "ekinerja.skp_sync.succeeded"
    assert (event.plan_id, event.plan_revision, event.period_id) == ("plan-1", 3, "p-2026-1")
    review = SimpleNamespace(**{**common, "review": "2026-Q2"}, kind="review_periodik",
                             assessment_id="a-1:2026-Q2", assessment_version=2)
    event = record_events.failed(review, attempt=1, status="parked", http_status=400, message="m",
                                 responsible_actor="bkd", failed_at=at, outcome="rejected")
    assert event.event_type() == "ekinerja.periodic_review_sync.failed"
    assert (event.assessment_id, event.review, event.review_version) == ("a-1", "2026-Q2", 2)
    result = SimpleNamespace(**common, kind="hasil", assessment_id="a-1", assessment_version=1)
    event = record_events.requeued(result, attempt=1, requeued_by="dinas", message="m", previous_message=None,
                                   requeued_at=at)
    assert event.event_type() == "ekinerja.sync.requeued" and event.assessment_id == "a-1"
    # A row read before the kind column existed (no attribute) is a final result.
    legacy = SimpleNamespace(teacher_nip=GURU.nip, school_npsn="20212345", assessment_id="a-2", assessment_version=1)
    assert record_events.succeeded(legacy, attempt=1, ekinerja_record_id="X", synced_at=at, outcome="acknowledged",
                                   message="ok").event_type() == "ekinerja.sync.succeeded"
