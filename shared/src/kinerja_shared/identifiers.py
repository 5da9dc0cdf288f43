"""Identifiers of the field: NIP (18 digits), NPSN (8 digits), NUPTK (16 digits), NIK (16 digits).

NIP = birth date (YYYYMMDD) + CPNS start (YYYYMM) + sex (1 or 2) + sequence (3 digits).
A NIP whose parts are impossible (month 13, sex digit 3) is bad input. PPPK numbers are also
18 digits with another meaning; they are checked for shape only when ``pppk=True``.

NIK (Nomor Induk Kependudukan) = region of registration (6 digits: province, kabupaten/kota,
kecamatan) + birth date DDMMYY, with 40 added to the day for women + sequence (4 digits).
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


def nik_problem(nik: str) -> str | None:
    """Return why ``nik`` cannot be a NIK (in Bahasa Indonesia), or None when it can."""
    if not isinstance(nik, str) or len(nik) != 16 or not nik.isdigit():
        return "NIK harus 16 digit angka"
    if int(nik[0:2]) < 11:  # province codes start at 11 (Aceh)
        return "kode provinsi pada NIK tidak mungkin"
    day, month = int(nik[6:8]), int(nik[8:10])
    try:
        date(2000, month, day - 40 if day > 40 else day)  # 2000: a leap year accepts 29 February
    except ValueError:
        return "tanggal lahir pada NIK tidak mungkin"
    if nik[12:] == "0000":
        return "nomor urut pada NIK tidak boleh 0000"
    return None


def nik_nip_mismatch(nik: str, nip: str) -> str | None:
    """Why a NIK and a (PNS) NIP cannot be the same person: birth date or sex differ. None when
    they agree or when either is not well-formed (that is reported on its own)."""
    if nik_problem(nik) or nip_problem(nip):
        return None
    day, month, year2 = int(nik[6:8]), nik[8:10], nik[10:12]
    female = day > 40
    nik_birth = f"{day - 40 if female else day:02d}{month}{year2}"
    nip_birth = f"{nip[6:8]}{nip[4:6]}{nip[2:4]}"
    if nik_birth != nip_birth:
        return f"tanggal lahir pada NIK ({nik_birth[:2]}-{nik_birth[2:4]}-{nik_birth[4:]}) berbeda dengan NIP ({nip_birth[:2]}-{nip_birth[2:4]}-{nip_birth[4:]})"
    if (nip[14] == "2") != female:
        return "jenis kelamin pada NIK berbeda dengan NIP"
    return None


def region_problem(code: str) -> str | None:
    """Region codes are Dapodik's 6-digit kode wilayah of the kabupaten/kota."""
    if not isinstance(code, str) or len(code) != 6 or not code.isdigit():
        return "kode wilayah harus 6 digit angka"
    return None


def province_of(region_code: str) -> str:
    """The province's kode wilayah: the first two digits followed by zeros."""
    return region_code[:2] + "0000"
