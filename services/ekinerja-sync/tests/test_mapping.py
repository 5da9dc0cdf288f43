"""The SIASN-like mapping, field by field, and the rules around it (pure, no servers)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kinerja_ekinerja_sync.domain.mapping import (
    CannotMap,
    FinalResult,
    already_stored,
    in_scope,
    to_kinerja_periodik,
)

RESULT = FinalResult(
    year=2026, month_start=1, month_end=6,
    rating_hasil_kerja="DI_ATAS", rating_perilaku_kerja="SESUAI",
    predikat="BAIK", predikat_code=2,
    teacher_nip="198503122010012001", teacher_jenjang="Ahli Muda", teacher_asn_status="PNS",
    assessor_name="Dra. Sri Wahyuni", assessor_nip="197204151998022001", assessor_golongan="IV/a",
    assessor_jabatan="Kepala Sekolah", assessor_asn_status="PNS", assessor_unit="SD Negeri 1 Cibinong",
)


def test_every_field_of_the_payload():
    assert to_kinerja_periodik(RESULT) == {
        "bulanMulaiPenilaian": 1,
        "bulanSelesaiPenilaian": 6,
        "tahunMulaiPenilaian": 2026,
        "tahunSelesaiPenilaian": 2026,
        "tahun": 2026,
        "hasilKinerjaNilai": 1,
        "perilakuKerjaNilai": 2,
        "kuadranKinerjaNilai": 2,
        "koefisienId": "2",
        "periodikId": 3,
        "pnsDinilaiId": "198503122010012001",
        "penilaiNama": "Dra. Sri Wahyuni",
        "penilaiNipNrp": "197204151998022001",
        "penilaiGolongan": "IV/a",
        "penilaiJabatanNama": "Kepala Sekolah",
        "penilaiUnorNama": "SD Negeri 1 Cibinong",
        "statusPenilai": "ASN",
    }


@pytest.mark.parametrize("rating, code", [("DI_ATAS", 1), ("SESUAI", 2), ("DI_BAWAH", 3)])
def test_rating_codes(rating, code):
    # Perilaku DI_ATAS keeps every hasil row off the "Kurang" column.
    predikat = {"DI_ATAS": ("SANGAT_BAIK", 1), "SESUAI": ("BAIK", 2), "DI_BAWAH": ("BUTUH_PERBAIKAN", 3)}[rating]
    r = replace(RESULT, rating_hasil_kerja=rating, rating_perilaku_kerja="DI_ATAS",
                predikat=predikat[0], predikat_code=predikat[1])
    payload = to_kinerja_periodik(r)
    assert payload["hasilKinerjaNilai"] == code and payload["perilakuKerjaNilai"] == 1
    r = replace(RESULT, rating_hasil_kerja="SESUAI", rating_perilaku_kerja=rating,
                predikat={"DI_ATAS": "BAIK", "SESUAI": "BAIK", "DI_BAWAH": "KURANG"}[rating],
                predikat_code={"DI_ATAS": 2, "SESUAI": 2, "DI_BAWAH": 4}[rating])
    assert to_kinerja_periodik(r)["perilakuKerjaNilai"] == code


@pytest.mark.parametrize(
    "hasil, perilaku, predikat, code",
    [
        ("DI_ATAS", "DI_ATAS", "SANGAT_BAIK", 1), ("DI_ATAS", "SESUAI", "BAIK", 2),
        ("SESUAI", "SESUAI", "BAIK", 2), ("DI_BAWAH", "SESUAI", "BUTUH_PERBAIKAN", 3),
        ("SESUAI", "DI_BAWAH", "KURANG", 4), ("DI_BAWAH", "DI_BAWAH", "SANGAT_KURANG", 5),
    ],
)
def test_predikat_code(hasil, perilaku, predikat, code):
    r = replace(RESULT, rating_hasil_kerja=hasil, rating_perilaku_kerja=perilaku, predikat=predikat, predikat_code=code)
    assert to_kinerja_periodik(r)["kuadranKinerjaNilai"] == code


def test_predikat_that_contradicts_the_matrix_or_its_code_is_refused():
    with pytest.raises(CannotMap) as exc:
        to_kinerja_periodik(replace(RESULT, predikat="SANGAT_BAIK", predikat_code=1))
    assert exc.value.responsible_actor == "sistem" and "matriks" in exc.value.message
    with pytest.raises(CannotMap):
        to_kinerja_periodik(replace(RESULT, predikat_code=3))


@pytest.mark.parametrize(
    "jenjang, koefisien",
    [("Ahli Pertama", "1"), ("Ahli Muda", "2"), ("Ahli Madya", "3"), ("Ahli Utama", "4"), (" Ahli Madya ", "3")],
)
def test_koefisien_from_jenjang(jenjang, koefisien):
    assert to_kinerja_periodik(replace(RESULT, teacher_jenjang=jenjang))["koefisienId"] == koefisien


def test_unknown_jenjang_is_the_school_operators_to_fix():
    with pytest.raises(CannotMap) as exc:
        to_kinerja_periodik(replace(RESULT, teacher_jenjang=""))
    assert exc.value.responsible_actor == "operator_sekolah" and "Jenjang" in exc.value.message


@pytest.mark.parametrize(
    "start, end, periodik", [(1, 6, 3), (7, 12, 3), (1, 12, 4), (4, 6, 2), (5, 5, 1)]
)
def test_months_and_periodik(start, end, periodik):
    payload = to_kinerja_periodik(replace(RESULT, month_start=start, month_end=end))
    assert (payload["bulanMulaiPenilaian"], payload["bulanSelesaiPenilaian"], payload["periodikId"]) == (start, end, periodik)


@pytest.mark.parametrize("start, end", [(1, 5), (6, 1), (0, 5)])
def test_odd_periods_are_refused(start, end):
    with pytest.raises(CannotMap):
        to_kinerja_periodik(replace(RESULT, month_start=start, month_end=end))


@pytest.mark.parametrize("asn, status", [("PNS", "ASN"), ("PPPK", "ASN"), ("NON_ASN", "NON ASN")])
def test_status_penilai_from_the_assessors_asn_status(asn, status):
    assert to_kinerja_periodik(replace(RESULT, assessor_asn_status=asn))["statusPenilai"] == status


def test_missing_assessor_is_refused():
    with pytest.raises(CannotMap) as exc:
        to_kinerja_periodik(replace(RESULT, assessor_nip=""))
    assert exc.value.responsible_actor == "operator_sekolah"


def test_only_asn_teachers_are_in_scope():
    assert in_scope(RESULT) and in_scope(replace(RESULT, teacher_asn_status="PPPK"))
    assert not in_scope(replace(RESULT, teacher_asn_status="NON_ASN"))


def test_already_stored_matches_nip_period_and_codes_only():
    payload = to_kinerja_periodik(RESULT)
    same = {**payload, "id": "r1"}
    assert already_stored([same], payload) == "r1"
    assert already_stored([{**same, "kuadranKinerjaNilai": 1}], payload) is None
    assert already_stored([{**same, "bulanMulaiPenilaian": 7, "bulanSelesaiPenilaian": 12}], payload) is None
    assert already_stored([{**same, "pnsDinilaiId": "197204151998022001"}], payload) is None
    assert already_stored([], payload) is None
    # An update must find its own record.
    assert already_stored([same, {**same, "id": "r2"}], {**payload, "id": "r2"}) == "r2"
