import pytest

from kinerja_shared.identifiers import nip_problem, npsn_problem, nuptk_problem, province_of, region_problem


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
