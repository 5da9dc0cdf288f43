import pytest

from kinerja_shared.identifiers import (
    nik_nip_mismatch, nik_problem, nip_problem, npsn_problem, nuptk_problem, province_of, region_problem,
)


@pytest.mark.parametrize("nip", ["198503122010012001", "197204151998022001", "196805141993031002"])
def test_valid_nips(nip):
    assert nip_problem(nip) is None


@pytest.mark.parametrize(
    "nip, problem",
    [
        ("19850312201001200", "18 digit"),  # 17 digits
        ("1985031220100120011", "18 digit"),
        ("19850312201001200A", "18 digit"),
        ("198513122010012001", "tanggal lahir"),  # month 13 in the birth date
        ("198502302010012001", "tanggal lahir"),  # 30 February
        ("198503122010132001", "bulan TMT"),  # CPNS month 13
        ("198503122010013001", "jenis kelamin"),  # sex digit 3
        ("198503121990012001", "tahun TMT"),  # CPNS at age 5
    ],
)
def test_impossible_nips(nip, problem):
    assert problem in nip_problem(nip)


def test_pppk_numbers_are_checked_for_shape_only():
    assert nip_problem("199107082019032905", pppk=True) is None
    assert nip_problem("19910708201903290", pppk=True) is not None


def test_npsn_nuptk_region():
    assert npsn_problem("20212345") is None
    assert npsn_problem("2021234") is not None
    assert npsn_problem("2021234X") is not None
    assert nuptk_problem("1234567890123456") is None
    assert nuptk_problem("123456789012345") is not None
    assert region_problem("020500") is None
    assert region_problem("0205") is not None
    assert province_of("020500") == "020000"


@pytest.mark.parametrize("nik", ["3201011203850001", "3201015203850002", "1101012902000001"])
def test_valid_niks(nik):
    assert nik_problem(nik) is None  # a man born 12-03-85, a woman (day + 40), 29 February


@pytest.mark.parametrize(
    "nik, problem",
    [
        ("320101120385000", "16 digit"),  # 15 digits
        ("32010112038500011", "16 digit"),
        ("320101120385000X", "16 digit"),
        ("0901011203850001", "kode provinsi"),
        ("3201013203850001", "tanggal lahir"),  # day 32
        ("3201017203850001", "tanggal lahir"),  # day 72 (a woman born on the 32nd)
        ("3201011213850001", "tanggal lahir"),  # month 13
        ("3201013002850001", "tanggal lahir"),  # 30 February
        ("3201011203850000", "nomor urut"),
    ],
)
def test_impossible_niks(nik, problem):
    assert problem in nik_problem(nik)


def test_nik_and_nip_of_one_person_agree_on_birth_date_and_sex():
    # NIP 198503122010012001: born 1985-03-12, female (sex digit 2).
    nip = "198503122010012001"
    assert nik_nip_mismatch("3201015203850002", nip) is None
    assert "tanggal lahir" in nik_nip_mismatch("3201015303850002", nip)  # the 13th
    assert "tanggal lahir" in nik_nip_mismatch("3201015203860002", nip)  # 1986
    assert "jenis kelamin" in nik_nip_mismatch("3201011203850002", nip)  # a man's NIK
    # Malformed input is reported by nik_problem / nip_problem, not as a mismatch.
    assert nik_nip_mismatch("123", nip) is None
    assert nik_nip_mismatch("3201015203850002", "123") is None
