"""When a roster import from planning fixes what a parked record was parked for.

A parked record keeps the result as finalized (a :class:`FinalResult` snapshot). A later
roster of the school (planning's RosterImported: the school and all its people) may carry the
fix: the teacher's jenjang, the assessor's golongan, jabatan or (typo-)corrected NIP, the
school's name that e-Kinerja knows as the unit (Unor). The record resumes only when a value
that matters for its reason changed:

| parked for | resumes when the roster changes |
| --- | --- |
| not mappable (unknown jenjang, assessor missing, ...) | anything, so that it maps now |
| BKN: "NIP penilai ... tidak ditemukan" | penilaiNipNrp (the same person, corrected NIP) |
| BKN: "NIP tidak ditemukan" (the teacher) | never here: the result belongs to the NIP it was finalized for; BKD fixes SIASN, then an operator re-queues |
| BKN: Unor | penilaiUnorNama |
| BKN: golongan / jabatan | penilaiGolongan / penilaiJabatanNama |
| BKN: koefisien | koefisienId (the teacher's jenjang) |
| BKN: "SKP Organisasi belum dibuat" | never here: the atasan acts in e-Kinerja; an operator re-queues |
| BKN: any other rejection | any field sent |
| max attempts (BKN or the network failed) | never here: nothing in a roster explains it |
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kinerja_ekinerja_sync.domain.mapping import CannotMap, FinalResult, RosterPerson, to_kinerja_periodik

ANY = None  # any field of the payload matters

# A fragment of BKN's message (lower case) -> the payload fields that can fix it. Checked in
# order: the assessor's NIP before the teacher's.
RELEVANT_FIELDS: list[tuple[str, set[str] | None]] = [
    ("nip penilai", {"penilaiNipNrp"}),
    ("penilainipnrp", {"penilaiNipNrp"}),
    ("nip tidak ditemukan", set()),
    ("skp organisasi", set()),
    ("unor", {"penilaiUnorNama"}),
    ("golongan", {"penilaiGolongan"}),
    ("jabatan", {"penilaiJabatanNama"}),
    ("koefisien", {"koefisienId"}),
    ("periodik", set()),
]


def fields_that_matter(last_outcome: str | None, message: str | None) -> set[str] | None:
    """The payload fields whose change can fix a record parked with this last attempt."""
    if last_outcome == "not_sent":
        return ANY
    if last_outcome != "rejected":
        return set()  # parked after max attempts: not a data problem
    lowered = (message or "").lower()
    for fragment, fields in RELEVANT_FIELDS:
        if fragment in lowered:
            return fields
    return ANY


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def refreshed(result: FinalResult, people: dict[str, RosterPerson], unit: str | None) -> FinalResult:
    """The result with the roster's current data about its teacher, its assessor and its unit.

    The assessor is the teacher's assessor of record in the roster only when it is the same
    person (the same NIP, or the same name under a corrected NIP) or none was known: a result
    is never attributed to someone who did not sign it."""
    changes: dict[str, Any] = {}
    teacher = people.get(result.teacher_nip)
    if teacher is not None:
        changes.update(teacher_jenjang=teacher.jenjang, teacher_asn_status=teacher.asn_status)
    candidates = [teacher.assessor_nip] if teacher is not None and teacher.assessor_nip else []
    candidates.append(result.assessor_nip)
    for nip in candidates:
        assessor = people.get(nip or "")
        if assessor is None:
            continue
        if assessor.nip == result.assessor_nip or not result.assessor_nip or _same_name(assessor.name, result.assessor_name):
            changes.update(
                assessor_nip=assessor.nip, assessor_name=assessor.name, assessor_golongan=assessor.golongan,
                assessor_jabatan=assessor.jabatan,
                assessor_asn_status=assessor.asn_status,
            )
            break
    if unit:
        changes["assessor_unit"] = unit
    return dataclasses.replace(result, **changes)


@dataclasses.dataclass(frozen=True)
class Resume:
    result: FinalResult
    payload: dict[str, Any]
    changed: dict[str, tuple[Any, Any]]  # field -> (before, after)


def resume_for(
    result: FinalResult, old_payload: dict[str, Any] | None, matter: set[str] | None,
    people: dict[str, RosterPerson], unit: str | None,
) -> Resume | None:
    """What to send now, or None when this roster does not fix the reason."""
    if matter is not None and not matter:
        return None
    fresh = refreshed(result, people, unit)
    try:
        payload = to_kinerja_periodik(fresh)
    except CannotMap:
        return None  # still not sendable
    before = old_payload or {}
    changed = {f: (before.get(f), v) for f, v in payload.items() if before.get(f) != v}
    if old_payload is None:  # was not mappable; it is now
        return Resume(fresh, payload, changed)
    relevant = changed if matter is None else {f: c for f, c in changed.items() if f in matter}
    return Resume(fresh, payload, relevant) if relevant else None


def snapshot(result: FinalResult) -> dict[str, Any]:
    # A shallow copy: every field is a str or an int (dataclasses.asdict deep-copies, five
    # times slower, on the intake of every result).
    return {name: getattr(result, name) for name in _FINAL_RESULT_FIELDS}


_FINAL_RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(FinalResult))


def from_snapshot(data: dict[str, Any]) -> FinalResult:
    names = {f.name for f in dataclasses.fields(FinalResult)}
    return FinalResult(**{k: v for k, v in data.items() if k in names})


def relevant_changes(
    old_payload: dict[str, Any] | None, payload: dict[str, Any], matter: set[str] | None,
) -> dict[str, tuple[Any, Any]] | None:
    """For any kind of record: the changes of a freshly mapped payload that can fix what the
    record was parked for (``matter`` from :func:`fields_that_matter`), or None when there are
    none. A record that could not be mapped before is fixed by being mappable now."""
    if matter is not None and not matter:
        return None
    before = old_payload or {}
    changed = {f: (before.get(f), v) for f, v in payload.items() if before.get(f) != v}
    if old_payload is None:
        return changed
    relevant = changed if matter is None else {f: c for f, c in changed.items() if f in matter}
    return relevant or None
