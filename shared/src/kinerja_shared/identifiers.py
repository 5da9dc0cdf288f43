"""Identifiers of the field: NIP (18 digits), NPSN (8 digits), NUPTK (16 digits).

NIP = birth date (YYYYMMDD) + CPNS start (YYYYMM) + sex (1 or 2) + sequence (3 digits).
A NIP whose parts are impossible (month 13, sex digit 3) is bad input. PPPK numbers are also
18 digits with another meaning; they are checked for shape only when ``pppk=True``.
"""

from __future__ import annotations

from datetime import date


def nip_problem(nip: str, *, pppk: bool = False) -> str | None:
    """Return why ``nip`` is not a valid NIP (in Bahasa Indonesia), or None when it is."""
    if not isinstance(nip, str) or len(nip) != 18 or not nip.isdigit():
        return "NIP harus 18 digit angka"
    if pppk:
        return None
    try:
        birth = date(int(nip[0:4]), int(nip[4:6]), int(nip[6:8]))
    except ValueError:
        return "tanggal lahir pada NIP tidak mungkin"
    start_year, start_month = int(nip[8:12]), int(nip[12:14])
    if not 1 <= start_month <= 12:
        return "bulan TMT CPNS pada NIP tidak mungkin"
    if start_year < birth.year + 15 or start_year > 2100:
        return "tahun TMT CPNS pada NIP tidak mungkin"
    if nip[14] not in "12":
        return "digit jenis kelamin pada NIP harus 1 atau 2"
    return None


def is_valid_nip(nip: str, *, pppk: bool = False) -> bool:
    return nip_problem(nip, pppk=pppk) is None


def npsn_problem(npsn: str) -> str | None:
    if not isinstance(npsn, str) or len(npsn) != 8 or not npsn.isdigit():
        return "NPSN harus 8 digit angka"
    return None


def is_valid_npsn(npsn: str) -> bool:
    return npsn_problem(npsn) is None


def nuptk_problem(nuptk: str) -> str | None:
    if not isinstance(nuptk, str) or len(nuptk) != 16 or not nuptk.isdigit():
        return "NUPTK harus 16 digit angka"
    return None


def region_problem(code: str) -> str | None:
    """Region codes are Dapodik's 6-digit kode wilayah of the kabupaten/kota."""
    if not isinstance(code, str) or len(code) != 6 or not code.isdigit():
        return "kode wilayah harus 6 digit angka"
    return None


def province_of(region_code: str) -> str:
    """The province's kode wilayah: the first two digits followed by zeros."""
    return region_code[:2] + "0000"
