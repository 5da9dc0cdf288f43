"""Unit tests of the domain rules: angka kredit (the worked examples of the PermenPANRB 1/2023 juknis),
the finalisation window, ratings with reasons, corrections and objections, the observation
stages, the distribution curve for each organisation predikat, the annual roll-up."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from kinerja_shared.errors import AppError

from kinerja_assessment.domain import angka_kredit as ak
from kinerja_assessment.domain import corrections, observation, windows
from kinerja_assessment.domain.annual import annual_predikat
from kinerja_assessment.domain.assessment import BERAKHLAK, parse_rating_input
from kinerja_assessment.domain.distribution import ORGANISATION_PREDIKAT, check
from kinerja_assessment.domain.policy import policies, policy_for
from kinerja_assessment.domain.predikat import Predikat

P = Predikat


def code(call) -> str:
    with pytest.raises(AppError) as exc:
        call()
    return exc.value.code


# ---------------------------------------------------------------- angka kredit


@pytest.mark.parametrize("months, predikat, jenjang, expected", [
    (12, P.SANGAT_BAIK, "Ahli Pertama", "18.75"),  # domain.md worked example
    (2, P.BAIK, "Ahli Pertama", "2.08"),  # 2.0833.. rounded half up to 2 decimals
    (12, P.BAIK, "Guru Madya", "37.5"),  # domain.md worked example
    (6, P.BAIK, "Ahli Muda", "12.5"),  # a semester counts as 6 months
    (6, P.BUTUH_PERBAIKAN, "Ahli Pertama", "4.69"),  # 4.6875 -> 4.69 (half up)
    (6, P.KURANG, "Ahli Utama", "12.5"),
    (1, P.SANGAT_KURANG, "Ahli Pertama", "0.26"),  # 0.2604.. -> 0.26
    (12, P.SANGAT_KURANG, "Ahli Utama", "12.5"),
])
def test_angka_kredit(months, predikat, jenjang, expected):
    value = ak.angka_kredit(months, predikat, ak.jenjang_of(jenjang))
    assert isinstance(value, Decimal) and value == Decimal(expected)
    assert value.as_tuple().exponent == -2


def test_jenjang_from_roster_wording():
    assert [ak.jenjang_of(t) for t in ("Ahli Pertama", "Guru Muda", "ahli madya", "AHLI UTAMA")] == [
        "PERTAMA", "MUDA", "MADYA", "UTAMA"]
    assert ak.jenjang_of("") is None and ak.jenjang_of(None) is None and ak.jenjang_of("Terampil") is None
    with pytest.raises(ValueError):
        ak.angka_kredit(13, P.BAIK, "MUDA")


def test_cumulative_and_what_remains():
    p = ak.progress("PERTAMA", [Decimal("18.75"), Decimal("2.08"), Decimal("6.25")])
    assert p.cumulative == Decimal("27.08")
    assert (p.remaining_pangkat, p.remaining_jenjang) == (Decimal("22.92"), Decimal("72.92"))
    done = ak.progress("MUDA", [Decimal("150")])
    assert (done.remaining_pangkat, done.remaining_jenjang) == (Decimal("0.00"), Decimal("50.00"))
    top = ak.progress("UTAMA", [Decimal("25")]).as_dict()
    assert top["remaining_next_pangkat"] == "175.00" and top["remaining_next_jenjang"] is None
    assert ak.progress("MADYA", []).as_dict()["needed_next_jenjang"] == "450"


# ---------------------------------------------------------------- window

WINDOW = windows.Window(date(2026, 6, 1), date(2026, 6, 30))


def wib(y, m, d, hh, mm, ss=0):
    from kinerja_shared.clock import JAKARTA
    return datetime(y, m, d, hh, mm, ss, tzinfo=JAKARTA)


def test_window_whole_days_in_jakarta():
    windows.ensure_finalizable_now(WINDOW, None, wib(2026, 6, 1, 0, 0))
    windows.ensure_finalizable_now(WINDOW, None, wib(2026, 6, 30, 23, 59, 59))
    assert code(lambda: windows.ensure_finalizable_now(WINDOW, None, wib(2026, 5, 31, 23, 59, 59))) == "penilaian_belum_dibuka"
    assert code(lambda: windows.ensure_finalizable_now(WINDOW, None, wib(2026, 7, 1, 0, 0))) == "batas_penilaian_terlewat"
    # 30 June 17:30 UTC is already 1 July in Jakarta.
    late = datetime(2026, 6, 30, 17, 30, tzinfo=timezone.utc)
    assert code(lambda: windows.ensure_finalizable_now(WINDOW, None, late)) == "batas_penilaian_terlewat"
    # A Dinas extension moves the last day.
    windows.ensure_finalizable_now(WINDOW, date(2026, 7, 10), wib(2026, 7, 10, 23, 0))
    assert code(lambda: windows.ensure_finalizable_now(WINDOW, date(2026, 7, 10), wib(2026, 7, 11, 0, 0))) == "batas_penilaian_terlewat"


def test_window_from_stages_or_the_last_month():
    stages = [{"stage": "penilaian", "starts_on": "2026-06-03", "ends_on": "2026-06-25"}]
    assert windows.penilaian_window(stages, 2026, 6) == windows.Window(date(2026, 6, 3), date(2026, 6, 25))
    assert windows.penilaian_window([], 2026, 12) == windows.Window(date(2026, 12, 1), date(2026, 12, 31))


def test_extension_must_be_after_the_stage_and_not_past():
    windows.ensure_valid_extension(WINDOW, date(2026, 7, 5), date(2026, 7, 1))
    assert code(lambda: windows.ensure_valid_extension(WINDOW, date(2026, 6, 30), date(2026, 6, 1))) == "perpanjangan_tidak_valid"
    assert code(lambda: windows.ensure_valid_extension(WINDOW, date(2026, 7, 5), date(2026, 7, 6))) == "perpanjangan_tidak_valid"


# ---------------------------------------------------------------- ratings


def test_a_rating_needs_a_written_reason():
    for reason in (None, "", "   ", 5):
        assert code(lambda: parse_rating_input("SESUAI", "SESUAI", reason)) == "alasan_wajib_diisi"
    # Separate reasons may stand in for the general one, but both must be there.
    given = parse_rating_input("SESUAI", "DI_ATAS", None, "hasil", "perilaku")
    assert (given.reason_hasil_kerja, given.reason_perilaku_kerja, given.predikat) == ("hasil", "perilaku", P.BAIK)
    assert code(lambda: parse_rating_input("SESUAI", "DI_ATAS", None, "hasil", None)) == "alasan_wajib_diisi"


def test_perilaku_per_berakhlak_value():
    full = {k: {"rating": "DI_ATAS", "reason": f"alasan {k}"} for k in BERAKHLAK}
    given = parse_rating_input("DI_ATAS", "DI_ATAS", "ok", per_value=full)
    assert len(given.per_value) == 7 and given.per_value["loyal"]["rating"] == "DI_ATAS"
    partial = dict(list(full.items())[:6])
    assert code(lambda: parse_rating_input("SESUAI", "SESUAI", "ok", per_value=partial)) == "perilaku_per_nilai_tidak_lengkap"
    no_reason = {**full, "adaptif": {"rating": "SESUAI", "reason": " "}}
    assert code(lambda: parse_rating_input("SESUAI", "SESUAI", "ok", per_value=no_reason)) == "alasan_wajib_diisi"
    bad = {**full, "adaptif": {"rating": "BAGUS", "reason": "x"}}
    assert code(lambda: parse_rating_input("SESUAI", "SESUAI", "ok", per_value=bad)) == "rating_tidak_valid"


# ---------------------------------------------------------------- corrections and objections


def test_a_correction_names_the_latest_existing_version():
    assert corrections.ensure_corrects_latest(2, 2) == 2
    assert code(lambda: corrections.ensure_corrects_latest(3, 2)) == "versi_penilaian_tidak_ditemukan"
    assert code(lambda: corrections.ensure_corrects_latest(0, 2)) == "versi_penilaian_tidak_ditemukan"
    assert code(lambda: corrections.ensure_corrects_latest(1, 2)) == "versi_sudah_dikoreksi"
    assert code(lambda: corrections.ensure_corrects_latest(None, 1)) == "versi_wajib_diisi"
    assert code(lambda: corrections.ensure_corrects_latest(True, 1)) == "versi_wajib_diisi"
    assert code(lambda: corrections.ensure_changes(("SESUAI", "SESUAI"), ("SESUAI", "SESUAI"))) == "koreksi_tanpa_perubahan"


def respond(**over):
    args = dict(status="final", responded_version=None, version=1,
                pending_objection=False, finalized_at=wib(2026, 6, 10, 9, 0), window_days=14,
                now=wib(2026, 6, 24, 23, 59))
    args.update(over)
    corrections.ensure_can_respond(**args)


def test_objection_window_and_who_responds():
    respond()  # the 14th day after finalisation, 23:59 WIB: still in time
    assert code(lambda: respond(now=wib(2026, 6, 25, 0, 0))) == "batas_keberatan_terlewat"
    assert code(lambda: respond(status="open")) == "penilaian_belum_final"
    assert code(lambda: respond(responded_version=1)) == "sudah_ditanggapi"
    respond(responded_version=1, version=2)  # a correction may be answered again
    assert code(lambda: respond(pending_objection=True)) == "keberatan_masih_diproses"
    assert corrections.objection_deadline(wib(2026, 6, 10, 23, 30), 14) == date(2026, 6, 24)
    assert corrections.parse_decision("DITERIMA") == corrections.ACCEPTED
    assert code(lambda: corrections.parse_decision("YA")) == "keputusan_tidak_valid"
    assert code(lambda: corrections.ensure_pending(corrections.REJECTED)) == "keberatan_sudah_diputuskan"


# ---------------------------------------------------------------- observation

TODAY = date(2026, 5, 20)


def test_stages_in_order_with_dates():
    recorded: dict[str, date] = {}
    for stage, day in zip("ABCDE", (date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 9), date(2026, 4, 1), date(2026, 5, 2))):
        if stage != "A":
            nxt = "ABCDE"["ABCDE".index(stage) + 1] if stage != "E" else None
            if nxt:
                assert code(lambda: observation.ensure_next_stage(recorded, nxt, day, TODAY)) == "tahap_observasi_tidak_berurutan"
        observation.ensure_next_stage(recorded, stage, day, TODAY)
        recorded[stage] = day
    assert code(lambda: observation.ensure_next_stage(recorded, "C", TODAY, TODAY)) == "tahap_sudah_dicatat"
    assert code(lambda: observation.ensure_next_stage({}, "F", TODAY, TODAY)) == "tahap_observasi_tidak_dikenal"
    assert code(lambda: observation.ensure_next_stage({"A": date(2026, 3, 2)}, "B", date(2026, 3, 1), TODAY)) == "tanggal_tahap_tidak_valid"
    assert code(lambda: observation.ensure_next_stage({}, "A", date(2026, 5, 21), TODAY)) == "tanggal_tahap_tidak_valid"


def test_scores_judgement_and_self_observation():
    focus = ["Manajemen kelas", "Disiplin positif"]
    ok = [{"behaviour": "Manajemen kelas", "level": "BELUM_EFEKTIF", "evidence_notes": "n", "follow_up": "f"}]
    assert observation.parse_scores(ok, focus)[0]["level_label"] == "Dilakukan tapi belum efektif"
    assert code(lambda: observation.parse_scores([{**ok[0], "behaviour": "Aktivasi kognitif"}], focus)) == "perilaku_fokus_tidak_dikenal"
    assert code(lambda: observation.parse_scores([{**ok[0], "level": "BAIK"}], focus)) == "tingkat_tidak_valid"
    assert code(lambda: observation.parse_scores([{**ok[0], "follow_up": ""}], focus)) == "catatan_wajib_diisi"
    assert code(lambda: observation.parse_scores(ok + ok, focus)) == "skor_observasi_tidak_valid"
    assert code(lambda: observation.parse_scores([], focus)) == "skor_observasi_tidak_valid"
    judged = observation.parse_judgement({"upaya_refleksi": "MULAI_TERLIHAT", "upaya_mempelajari": "TERLIHAT_KONSISTEN",
                                          "perubahan_praktik": "BELUM_TERLIHAT", "note": "catatan"})
    assert judged["note"] == "catatan"
    assert code(lambda: observation.parse_judgement({"upaya_refleksi": "X", "note": "n"})) == "penilaian_observasi_tidak_valid"
    assert code(lambda: observation.ensure_not_self("1", "1")) == "observasi_diri_sendiri"
    observation.ensure_not_self("1", "2")


@pytest.mark.parametrize("mode, recorded, started, judged, missing", [
    ("never", set(), False, False, None),
    ("if_started", set(), False, False, None),
    ("if_started", {"A", "B"}, True, False, ["C", "D", "E"]),
    ("if_started", set("ABCDE"), True, False, []),  # complete stages, judgement missing
    ("if_started", set("ABCDE"), True, True, None),
    ("always", set(), False, False, ["A", "B", "C", "D", "E"]),
    ("always", set("ABCDE"), True, True, None),
])
def test_observation_required_by_policy(mode, recorded, started, judged, missing):
    if missing is None:
        observation.ensure_complete(mode, recorded, started, judged)
        return
    with pytest.raises(AppError) as exc:
        observation.ensure_complete(mode, recorded, started, judged)
    assert exc.value.code == "observasi_belum_lengkap" and exc.value.details["missing_stages"] == missing


def test_policies_are_data():
    assert set(policies()) == {"pmm-2024", "ruang-gtk-2025"}
    assert policy_for("pmm-2024").observation_required == "if_started"
    assert policy_for("tidak-dikenal").code == "pmm-2024"
    assert policy_for("ruang-gtk-2025").annual_rule == "tahunan"


# ---------------------------------------------------------------- distribution


def warned(report) -> list[str]:
    return [w["limit"] + ":" + ",".join(w["predikat"]) for w in report["warnings"]]


def test_distribution_istimewa():
    assert warned(check({"SANGAT_BAIK": 7, "BAIK": 3}, "ISTIMEWA")) == []
    report = check({"SANGAT_BAIK": 8, "BAIK": 2}, "ISTIMEWA")
    assert warned(report) == ["maks 70%:SANGAT_BAIK"] and report["percent"]["SANGAT_BAIK"] == "80.0"
    assert report["blocking"] is False and "80.0%" in report["warnings"][0]["message"]


def test_distribution_baik():
    assert warned(check({"SANGAT_BAIK": 2, "BAIK": 7, "BUTUH_PERBAIKAN": 1}, "BAIK")) == []
    assert warned(check({"SANGAT_BAIK": 2, "BAIK": 8}, "BAIK")) == [
        "maks 70%:BAIK", "min 1 orang:BUTUH_PERBAIKAN,KURANG,SANGAT_KURANG"]
    assert warned(check({"SANGAT_BAIK": 3, "BAIK": 6, "KURANG": 1}, "BAIK")) == ["maks 20%:SANGAT_BAIK"]


def test_distribution_butuh_perbaikan():
    assert warned(check({"BAIK": 5, "BUTUH_PERBAIKAN": 3, "SANGAT_BAIK": 1, "KURANG": 1}, "BUTUH_PERBAIKAN")) == []
    assert warned(check({"BAIK": 8, "BUTUH_PERBAIKAN": 1, "SANGAT_BAIK": 1}, "BUTUH_PERBAIKAN")) == [
        "maks 50%:BAIK", "min 20%:BUTUH_PERBAIKAN,KURANG,SANGAT_KURANG"]


def test_distribution_kurang():
    assert warned(check({"BAIK": 4, "KURANG": 4, "SANGAT_KURANG": 2}, "KURANG")) == []
    assert warned(check({"SANGAT_BAIK": 1, "BAIK": 6, "KURANG": 3}, "KURANG")) == [
        "maks 5%:SANGAT_BAIK", "maks 40%:BAIK", "min 40%:BUTUH_PERBAIKAN,KURANG,SANGAT_KURANG"]


def test_distribution_sangat_kurang():
    assert warned(check({"BAIK": 3, "SANGAT_KURANG": 7}, "SANGAT_KURANG")) == []
    assert warned(check({"SANGAT_BAIK": 1, "BAIK": 3, "SANGAT_KURANG": 6}, "SANGAT_KURANG")) == ["maks 0%:SANGAT_BAIK"]


def test_every_organisation_predikat_has_rules_and_an_empty_unit_is_fine():
    for org in ORGANISATION_PREDIKAT:
        report = check({}, org)
        assert report["total"] == 0 and report["blocking"] is False


# ---------------------------------------------------------------- annual


def test_annual_rollup():
    both = {1: P.SANGAT_BAIK, 2: P.BUTUH_PERBAIKAN}
    assert annual_predikat("terakhir", both) is P.BUTUH_PERBAIKAN
    assert annual_predikat("terakhir", {1: P.BUTUH_PERBAIKAN, 2: P.BAIK}) is P.BAIK
    assert annual_predikat("terendah", both) is P.BUTUH_PERBAIKAN
    assert annual_predikat("terendah", {1: P.KURANG, 2: P.SANGAT_KURANG}) is P.SANGAT_KURANG
    assert annual_predikat("terendah", {1: P.BAIK, 2: P.SANGAT_BAIK}) is P.BAIK
    assert annual_predikat("terakhir", {1: P.BAIK}) is None  # semester 2 not final yet
    assert annual_predikat("tahunan", {None: P.BAIK}) is P.BAIK
    assert annual_predikat("tahunan", {}) is None
