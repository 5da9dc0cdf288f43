"""The readiness report: what in a school's roster would block its people once planning opens,
and who must fix it. Plain rules over stored rows, no I/O.

Actors: ``operator_sekolah`` keeps the school's own staff lines (who is guru, who assesses
them); ``operator_dinas`` keeps units and names the Tim Kinerja / pengawas for each kepala
sekolah; ``bkd`` (Badan Kepegawaian Daerah) owns civil-service data (NIP, pangkat/golongan).

NIK and jenis PTK are Dapodik data the school's operator enters (NIK from the KTP, checked
against Dukcapil by Dapodik's verification), so missing or malformed ones go to
``operator_sekolah``. A NIK whose birth date or sex contradicts the NIP points at the
civil-service record (the NIK has passed Dukcapil): ``bkd``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

from kinerja_shared.identifiers import nik_nip_mismatch, nik_problem, nip_problem

from kinerja_planning.domain.roster import JENIS_PTK

ACTORS = ("operator_sekolah", "operator_dinas", "bkd")


class PersonLike(Protocol):
    nip: str
    name: str
    role: str
    golongan: str
    asn_status: str
    npsn: str | None
    region_code: str
    assessor_nip: str | None
    nik: str
    jenis_ptk: str


_ROLE_NAMES = {"guru": "guru", "kepala_sekolah": "kepala sekolah", "pengawas": "pengawas"}


@dataclass(frozen=True)
class Assessor:
    role: str
    npsn: str | None


@dataclass(frozen=True)
class Issue:
    code: str
    message: str
    actor: str
    nip: str | None = None
    name: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def school_issues(
    region_code: str, people: Iterable[PersonLike], assessors: Mapping[str, Assessor], npsn: str
) -> list[Issue]:
    """Every problem of one school's roster. ``assessors``: the stored role and school of every
    NIP the people name as their assessor (absent when the assessor is not in the roster)."""
    people = list(people)
    issues: list[Issue] = []
    heads = [p for p in people if p.role == "kepala_sekolah"]
    if not heads:
        issues.append(Issue(
            "kepala_sekolah_tidak_ada",
            "Sekolah belum memiliki kepala sekolah di roster: guru tidak punya penilai.",
            "operator_dinas",
        ))
    elif len(heads) > 1:
        issues.append(Issue(
            "kepala_sekolah_ganda",
            f"Sekolah memiliki {len(heads)} kepala sekolah di roster ({', '.join(p.nip for p in heads)}).",
            "operator_sekolah",
        ))
    for p in people:
        def add(code: str, message: str, actor: str, p=p) -> None:
            issues.append(Issue(code, message, actor, p.nip, p.name))

        if problem := nip_problem(p.nip, pppk=p.asn_status == "PPPK"):
            add("nip_tidak_valid", f"NIP tidak valid: {problem}", "bkd")
        if p.asn_status in ("PNS", "PPPK") and not p.golongan:
            add("golongan_tidak_ada", "Pangkat/golongan ASN belum tercatat.", "bkd")
        if not p.nik:
            add("nik_tidak_ada", "NIK belum tercatat di Dapodik.", "operator_sekolah")
        elif problem := nik_problem(p.nik):
            add("nik_tidak_valid", f"NIK tidak valid: {problem}", "operator_sekolah")
        elif p.asn_status == "PNS" and (problem := nik_nip_mismatch(p.nik, p.nip)):
            add("nik_nip_tidak_sesuai", f"NIK dan NIP tidak cocok: {problem}", "bkd")
        if not p.jenis_ptk:
            add("jenis_ptk_tidak_ada", "Jenis PTK belum tercatat di Dapodik.", "operator_sekolah")
        elif JENIS_PTK.get(p.jenis_ptk) != p.role:
            add(
                "jenis_ptk_tidak_sesuai",
                f"Jenis PTK '{p.jenis_ptk}' tidak sesuai dengan peran {_ROLE_NAMES.get(p.role, p.role)} di roster.",
                "operator_sekolah",
            )
        if p.region_code != region_code:
            add(
                "unit_tidak_sesuai",
                f"Kode wilayah pegawai ({p.region_code}) tidak sama dengan kode wilayah sekolah ({region_code}).",
                "operator_dinas",
            )
        assessor = assessors.get(p.assessor_nip) if p.assessor_nip else None
        if p.role == "guru":
            if not p.assessor_nip:
                add("penilai_tidak_ada", "Guru belum memiliki penilai (kepala sekolah).", "operator_sekolah")
            elif assessor is None:
                add("penilai_tidak_terdaftar", f"Penilai {p.assessor_nip} tidak ada di roster.", "operator_sekolah")
            elif assessor.role != "kepala_sekolah" or assessor.npsn != npsn:
                add(
                    "penilai_bukan_kepala_sekolah",
                    f"Penilai {p.assessor_nip} bukan kepala sekolah dari sekolah ini.",
                    "operator_sekolah",
                )
        elif p.role == "kepala_sekolah":
            if assessor is None or assessor.role != "pengawas":
                add(
                    "tim_kinerja_tidak_ada",
                    "Kepala sekolah belum memiliki penilai dari Tim Kinerja (pengawas sekolah).",
                    "operator_dinas",
                )
    return issues


def by_actor(issues: Iterable[Issue]) -> dict[str, int]:
    counts = dict.fromkeys(ACTORS, 0)
    for issue in issues:
        counts[issue.actor] += 1
    return counts
