"""Unit tests of the domain: the plan state machine, the roster line rules, the period policy.
No server, no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from kinerja_shared.errors import AppError

from kinerja_planning.domain.periods import (
    CLOSED,
    OPEN,
    SCHEDULED,
    ensure_accepts_plans,
    period_window,
    status_after_close,
    status_after_open,
)
from kinerja_planning.domain.plans import APPROVED, RETURNED, SUBMITTED, Plan, clean_indicators
from kinerja_planning.domain.roster import KnownPerson, check_roster, parse_roster

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=timezone.utc)
TEACHER, ASSESSOR, OTHER = "198503122010012001", "197204151998022001", "198711052011011002"


def new_plan(**overrides) -> Plan:
    values = dict(
        plan_id="p1", period_id="per1", teacher_nip=TEACHER, teacher_name="Dewi",
        school_npsn="20212345", region_code="020500", assessor_nip=ASSESSOR,
        indicators=["A.1", "D.1"], summary="  Rencana  ", at=T0,
    )
    values.update(overrides)
    return Plan.submit(**values)


def code_of(excinfo) -> tuple[str, int]:
    return excinfo.value.code, excinfo.value.status_code


# ------------------------------------------------------------------ plan state machine


def test_submit_starts_at_revision_1_with_history():
    plan = new_plan()
    assert (plan.status, plan.status_label, plan.revision) == (SUBMITTED, "Diajukan", 1)
    assert plan.summary == "Rencana"
    assert [(h.action, h.by, h.at) for h in plan.history] == [("submitted", TEACHER, T0)]


def test_indicators_are_trimmed_deduplicated_and_checked():
    assert clean_indicators([" A.1", "D.1", "A.1", ""]) == ["A.1", "D.1"]
    with pytest.raises(AppError) as no_indicator:
        new_plan(indicators=[" ", ""])
    assert code_of(no_indicator) == ("indikator_wajib_diisi", 422)
    with pytest.raises(AppError) as unknown:
        new_plan(indicators=["A.1", "Z.9", "D.5"])
    assert code_of(unknown) == ("indikator_tidak_dikenal", 422)
    assert unknown.value.details["unknown"] == ["Z.9", "D.5"]
    with pytest.raises(AppError) as long_summary:
        new_plan(summary="x" * 5001)
    assert code_of(long_summary) == ("ringkasan_terlalu_panjang", 422)


def test_approve_by_the_assessor():
    plan = new_plan()
    plan.approve(by=ASSESSOR, at=T0 + timedelta(hours=1))
    assert (plan.status, plan.status_label, plan.revision) == (APPROVED, "Disepakati", 1)
    assert plan.history[-1].action == "approved" and plan.history[-1].by == ASSESSOR


def test_return_then_resubmit_raises_the_revision():
    plan = new_plan()
    plan.return_for_revision(by=ASSESSOR, reason="  Selaraskan dengan D.1  ", at=T0 + timedelta(hours=1))
    assert (plan.status, plan.status_label, plan.return_reason) == (RETURNED, "Dikembalikan", "Selaraskan dengan D.1")
    plan.resubmit(by=TEACHER, indicators=["D.1"], summary="Revisi", at=T0 + timedelta(hours=2))
    assert (plan.status, plan.revision, plan.indicators, plan.summary) == (SUBMITTED, 2, ["D.1"], "Revisi")
    assert plan.return_reason is None
    assert [h.action for h in plan.history] == ["submitted", "returned", "resubmitted"]
    assert plan.history[1].reason == "Selaraskan dengan D.1"
    plan.approve(by=ASSESSOR, at=T0 + timedelta(hours=3))
    assert (plan.status, plan.revision) == (APPROVED, 2)


def test_only_the_assessor_approves_or_returns():
    plan = new_plan()
    for who in (OTHER, TEACHER, None):
        with pytest.raises(AppError) as approve:
            plan.approve(by=who, at=T0)
        assert code_of(approve) == ("bukan_penilai", 403)
        with pytest.raises(AppError) as give_back:
            plan.return_for_revision(by=who, reason="alasan", at=T0)
        assert code_of(give_back) == ("bukan_penilai", 403)
    assert plan.status == SUBMITTED and len(plan.history) == 1


def test_return_needs_a_reason():
    plan = new_plan()
    for reason in (None, "", "   \n"):
        with pytest.raises(AppError) as excinfo:
            plan.return_for_revision(by=ASSESSOR, reason=reason, at=T0)
        assert code_of(excinfo) == ("alasan_wajib_diisi", 422)
    assert plan.status == SUBMITTED


def test_refused_transitions_change_nothing():
    approved = new_plan()
    approved.approve(by=ASSESSOR, at=T0)
    for action in (
        lambda p: p.approve(by=ASSESSOR, at=T0),
        lambda p: p.return_for_revision(by=ASSESSOR, reason="terlambat", at=T0),
        lambda p: p.resubmit(by=TEACHER, indicators=["A.1"], summary="", at=T0),
    ):
        with pytest.raises(AppError) as excinfo:
            action(approved)
        assert code_of(excinfo) == ("status_rencana_tidak_sesuai", 409)
    assert (approved.status, approved.revision, len(approved.history)) == (APPROVED, 1, 2)

    submitted = new_plan()
    with pytest.raises(AppError) as resubmit_submitted:
        submitted.resubmit(by=TEACHER, indicators=["A.1"], summary="", at=T0)
    assert code_of(resubmit_submitted) == ("status_rencana_tidak_sesuai", 409)

    returned = new_plan()
    returned.return_for_revision(by=ASSESSOR, reason="revisi", at=T0)
    for action in (
        lambda p: p.approve(by=ASSESSOR, at=T0),
        lambda p: p.return_for_revision(by=ASSESSOR, reason="lagi", at=T0),
    ):
        with pytest.raises(AppError) as excinfo:
            action(returned)
        assert code_of(excinfo) == ("status_rencana_tidak_sesuai", 409)
    with pytest.raises(AppError) as not_owner:
        returned.resubmit(by=OTHER, indicators=["A.1"], summary="", at=T0)
    assert code_of(not_owner) == ("akses_ditolak", 403)
    with pytest.raises(AppError) as bad_revision:
        returned.resubmit(by=TEACHER, indicators=["X.1"], summary="", at=T0)
    assert code_of(bad_revision) == ("indikator_tidak_dikenal", 422)
    assert (returned.status, returned.revision, returned.indicators) == (RETURNED, 1, ["A.1", "D.1"])


# ------------------------------------------------------------------ periods


def test_semester_windows():
    s1 = period_window("pmm-2024", 2026, 1)
    assert (s1.name, s1.starts_on, s1.ends_on, s1.month_start, s1.month_end) == (
        "Semester 1 2026", date(2026, 1, 1), date(2026, 6, 30), 1, 6,
    )
    s2 = period_window("pmm-2024", 2026, 2)
    assert (s2.name, s2.starts_on, s2.ends_on, s2.month_start, s2.month_end) == (
        "Semester 2 2026", date(2026, 7, 1), date(2026, 12, 31), 7, 12,
    )


@pytest.mark.parametrize(
    ("policy", "year", "semester", "code"),
    [
        ("ruang-gtk-2099", 2026, 1, "kebijakan_tidak_dikenal"),
        ("pmm-2024", 2026, 3, "semester_tidak_valid"),
        ("pmm-2024", 2026, 0, "semester_tidak_valid"),
        ("pmm-2024", 2026, None, "semester_tidak_valid"),
        ("pmm-2024", 1999, 1, "tahun_tidak_valid"),
    ],
)
def test_bad_period_requests(policy, year, semester, code):
    with pytest.raises(AppError) as excinfo:
        period_window(policy, year, semester)
    assert code_of(excinfo) == (code, 422)


def test_period_status_transitions():
    assert status_after_open(SCHEDULED) == (OPEN, True)
    assert status_after_open(OPEN) == (OPEN, False)
    assert status_after_close(OPEN) == (CLOSED, True)
    assert status_after_close(CLOSED) == (CLOSED, False)
    for refused in (lambda: status_after_open(CLOSED), lambda: status_after_close(SCHEDULED)):
        with pytest.raises(AppError) as excinfo:
            refused()
        assert code_of(excinfo) == ("status_periode_tidak_sesuai", 409)
    ensure_accepts_plans(OPEN)
    for status, code in ((SCHEDULED, "periode_belum_dibuka"), (CLOSED, "periode_sudah_ditutup")):
        with pytest.raises(AppError) as excinfo:
            ensure_accepts_plans(status)
        assert code_of(excinfo) == (code, 409)


# ------------------------------------------------------------------ roster lines

HEADER = "npsn,school_name,region_code,nip,name,role,jabatan,jenjang,golongan,asn_status,assessor_nip"
PENGAWAS = ",,020500,196805141993031002,Hendra,pengawas,Pengawas Sekolah,Ahli Madya,IV/b,PNS,"
KS = "20212345,SD 1,020500,197204151998022001,Siti,kepala_sekolah,Kepala Sekolah,Ahli Madya,IV/a,PNS,196805141993031002"
GURU = "20212345,SD 1,020500,198503122010012001,Dewi,guru,Guru Kelas,Ahli Muda,III/c,PNS,197204151998022001"


def report_for(*lines: str, known=None, only_npsn=None) -> dict[int, list[str]]:
    parsed = parse_roster(("\n".join([HEADER, *lines]) + "\n").encode())
    return {d["line"]: d["problems"] for d in check_roster(parsed, known or {}, only_npsn=only_npsn)}


def test_a_good_file_has_no_problems_and_canonical_values():
    parsed = parse_roster(("\ufeff" + "\n".join([HEADER, PENGAWAS, KS, GURU.replace("guru", "GURU").replace("Ahli Muda", "ahli muda")]) + "\n\n").encode())
    assert check_roster(parsed, {}) == []
    guru = parsed.rows[-1]
    assert (guru.line, guru.role, guru.jenjang, guru.assessor_nip) == (4, "guru", "Ahli Muda", "197204151998022001")
    assert parsed.rows[0].npsn is None and parsed.rows[0].assessor_nip is None


def test_every_bad_line_is_reported_with_every_problem():
    report = report_for(
        PENGAWAS,
        KS,
        GURU,
        # line 5: impossible NIP month, unknown jenjang
        "20212345,SD 1,020500,198503122010132002,Agus,guru,Guru,Ahli Super,III/b,PNS,197204151998022001",
        # line 6: bad NPSN, bad region, unknown role and asn_status
        "2021234,SD 1,02050,199002202015032003,Rina,murid,Guru,Ahli Pertama,III/a,HONORER,197204151998022001",
        # line 7: duplicate NIP of line 4
        GURU.replace("Dewi", "Dewi Dua"),
        # line 8: assessor nobody knows
        "20212345,SD 1,020500,198209182009021004,Bambang,guru,Guru,Ahli Muda,III/d,PNS,197001011995011001",
        # line 9: a guru assessed by the pengawas, not by a kepala sekolah
        "20212345,SD 1,020500,199107082019032005,Nur,guru,Guru,Ahli Pertama,III/a,PNS,196805141993031002",
        # line 10: missing name and assessor
        "20212345,SD 1,020500,197912302005011006,,guru,Guru,Ahli Madya,IV/a,PNS,",
        # line 11: too few columns
        "20212345,SD 1,020500",
    )
    assert sorted(report) == [5, 6, 7, 8, 9, 10, 11]
    assert any("bulan TMT" in p for p in report[5]) and any("jenjang 'Ahli Super'" in p for p in report[5])
    assert len(report[6]) == 4
    assert any("NPSN" in p for p in report[6]) and any("kode wilayah" in p for p in report[6])
    assert any("role 'murid'" in p for p in report[6]) and any("asn_status 'HONORER'" in p for p in report[6])
    assert report[7] == ["NIP ganda: sudah ada di baris 4"]
    assert "tidak ada di berkas" in report[8][0]
    assert "harus kepala sekolah dari sekolah yang sama" in report[9][0]
    assert set(report[10]) == {"name wajib diisi", "assessor_nip wajib diisi untuk guru dan kepala sekolah"}
    assert "jumlah kolom" in report[11][0]


def test_pppk_nip_is_checked_for_shape_only():
    pppk = "20212345,SD 1,020500,199113132021212001,Nur,guru,Guru,Ahli Pertama,IX,PPPK,197204151998022001"
    assert report_for(PENGAWAS, KS, pppk) == {}
    assert 4 in report_for(PENGAWAS, KS, pppk.replace("PPPK", "PNS"))
    assert report_for(PENGAWAS, KS, pppk.replace("199113132021212001", "19911313202121200"))[4] == ["NIP harus 18 digit angka"]


def test_assessors_already_in_the_database_are_accepted_when_they_fit():
    ks = KnownPerson("197204151998022001", "kepala_sekolah", "20212345")
    assert report_for(GURU, known={ks.nip: ks}) == {}
    other_school = KnownPerson(ks.nip, "kepala_sekolah", "29999999")
    assert "sekolah yang sama" in report_for(GURU, known={ks.nip: other_school})[2][0]
    pengawas = KnownPerson("196805141993031002", "pengawas", None)
    assert report_for(KS, known={pengawas.nip: pengawas}) == {}
    as_guru = KnownPerson(pengawas.nip, "guru", "20212345")
    assert "harus pengawas" in report_for(KS, known={pengawas.nip: as_guru})[2][0]


def test_kepala_sekolah_must_be_assessed_by_a_pengawas():
    ks_by_guru = KS.replace("196805141993031002", "198503122010012001")
    report = report_for(ks_by_guru, GURU)
    assert report[2] == ["penilai kepala sekolah (198503122010012001) harus pengawas sekolah"]


def test_pengawas_rows_have_no_school_and_no_assessor():
    report = report_for(PENGAWAS.replace(",,020500", "20212345,SD 1,020500").rstrip(",") + ",197204151998022001")
    assert set(report[2]) == {
        "pengawas tidak terikat pada satu sekolah: npsn dan school_name harus kosong",
        "assessor_nip pengawas harus kosong",
    }


def test_an_operator_sekolah_imports_only_their_school():
    other = "29999999,SD 2,020500,199002202015032003,Rina,guru,Guru,Ahli Pertama,III/a,PNS,197204151998022001"
    report = report_for(KS, GURU, other, known={
        "196805141993031002": KnownPerson("196805141993031002", "pengawas", None)
    }, only_npsn="20212345")
    assert 4 in report and any("bukan sekolah Anda" in p for p in report[4])
    assert 2 not in report and 3 not in report


def test_one_school_keeps_one_name_and_region():
    report = report_for(PENGAWAS, KS, GURU.replace("SD 1,020500", "SD Satu,020500"))
    assert "berbeda dengan baris 3" in report[4][0]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "berkas kosong"),
        (b"npsn,nip,name\n1,2,3\n", "kolom wajib tidak ada"),
        ((HEADER + "\n").encode(), "tidak berisi satu pun baris data"),
        (b"\xff\xfe\x00n\x00p", "UTF-8"),
    ],
)
def test_unreadable_files_are_reported_on_line_1(data, problem):
    parsed = parse_roster(data)
    report = check_roster(parsed, {})
    assert report[0]["line"] == 1 and problem in report[0]["problems"][0]
    assert parsed.rows == []
