"""Which roster changes resume which parked records (domain/resume.py, no servers)."""

from __future__ import annotations

from kinerja_ekinerja_sync.domain.mapping import FinalResult, to_kinerja_periodik
from kinerja_ekinerja_sync.domain.resume import (
    RosterPerson,
    fields_that_matter,
    from_snapshot,
    refreshed,
    resume_for,
    snapshot,
)

GURU, KS, KS_FIXED = "198503122010012001", "197204151998022001", "197204151998022009"

RESULT = FinalResult(
    year=2026, month_start=1, month_end=6, rating_hasil_kerja="DI_ATAS", rating_perilaku_kerja="SESUAI",
    predikat="BAIK", predikat_code=2, teacher_nip=GURU, teacher_jenjang="Ahli Pertama", teacher_asn_status="PNS",
    assessor_name="Dra. Sri Wahyuni", assessor_nip=KS, assessor_golongan="", assessor_jabatan="Kepala Sekolah",
    assessor_asn_status="PNS", assessor_unit="SD Negeri Satu",
)


def person(nip, name="Dra. Sri Wahyuni", golongan="IV/a", jenjang="Ahli Madya", assessor_nip=None):
    return RosterPerson(nip, name, "Kepala Sekolah", jenjang, golongan, "PNS", assessor_nip)


def guru(assessor_nip=KS, jenjang="Ahli Pertama"):
    return RosterPerson(GURU, "Siti", "Guru Kelas", jenjang, "III/a", "PNS", assessor_nip)


def test_what_matters_for_each_reason():
    assert fields_that_matter("not_sent", "Jenjang ... tidak dikenal") is None  # anything
    assert fields_that_matter("rejected", "NIP tidak ditemukan di SIASN") == set()
    assert fields_that_matter("rejected", "NIP penilai (penilaiNipNrp) tidak ditemukan di SIASN") == {"penilaiNipNrp"}
    assert fields_that_matter("rejected", "Unor penilai 'X' belum padan") == {"penilaiUnorNama"}
    assert fields_that_matter("rejected", "Golongan penilai wajib diisi") == {"penilaiGolongan"}
    assert fields_that_matter("rejected", "Data SKP Organisasi belum dibuat oleh atasan") == set()
    assert fields_that_matter("rejected", "Data tidak valid: penilaiNama") is None
    assert fields_that_matter("server_error", "Gagal setelah 10 percobaan: HTTP 503") == set()


def test_the_assessor_is_refreshed_only_when_it_is_the_same_person():
    people = {GURU: guru(assessor_nip=KS_FIXED), KS_FIXED: person(KS_FIXED, name="DRA.  Sri  Wahyuni")}
    fresh = refreshed(RESULT, people, unit="SD Negeri 1")
    assert (fresh.assessor_nip, fresh.assessor_golongan, fresh.assessor_unit) == (KS_FIXED, "IV/a", "SD Negeri 1")
    # A new principal (another name) did not sign this result: the assessor stays.
    people = {GURU: guru(assessor_nip=KS_FIXED), KS_FIXED: person(KS_FIXED, name="Drs. Ahmad Fauzi")}
    assert refreshed(RESULT, people, unit=None).assessor_nip == KS


def test_resume_only_when_a_relevant_value_changed():
    old = to_kinerja_periodik(RESULT)
    people = {GURU: guru(), KS: person(KS, golongan="IV/a")}
    plan = resume_for(RESULT, old, {"penilaiGolongan"}, people, unit=None)
    assert plan is not None and plan.changed == {"penilaiGolongan": ("", "IV/a")}
    assert plan.payload["penilaiGolongan"] == "IV/a"
    # The same roster for a record parked for the unit: nothing that matters changed.
    assert resume_for(RESULT, old, {"penilaiUnorNama"}, people, unit="SD Negeri Satu") is None
    assert resume_for(RESULT, old, set(), people, unit="SD Negeri 1") is None  # never by a roster
    # Not mappable before (unknown jenjang), mappable with the roster's jenjang.
    typo = from_snapshot({**snapshot(RESULT), "teacher_jenjang": "Ahli Pratama", "finalized_at": "x"})
    plan = resume_for(typo, None, None, {GURU: guru()}, unit=None)
    assert plan is not None and plan.payload["koefisienId"] == "1"
    assert resume_for(typo, None, None, {GURU: guru(jenjang="Ahli Pratama")}, unit=None) is None
