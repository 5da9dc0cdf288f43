"""Observasi Praktik Kinerja: five stages in order (A Diskusi Persiapan, B Observasi, C Diskusi
Tindak Lanjut, D Upaya Tindak Lanjut, E Refleksi Tindak Lanjut), each with its date,
participants and notes; the plan's focus behaviours scored on three levels with evidence notes
and a follow-up recommendation (once B has taken place); the assessor's judgement of Upaya
Refleksi, Upaya Mempelajari and Perubahan Praktik (once E has taken place). The stage names,
levels and judgements are data (policies/observasi.json).

Rules: a stage only right after the previous one, each on or after the previous one's date and
not in the future; the observer is the assessor of record and never the observed person (a
principal does not observe their own plan).
"""

from __future__ import annotations

from datetime import date

from kinerja_shared.errors import AppError, Conflict, Forbidden

from kinerja_assessment.domain.policy import observation_rubric


def stages() -> dict[str, str]:
    return observation_rubric()["stages"]


def levels() -> dict[str, str]:
    return observation_rubric()["levels"]


def _invalid(code: str, message: str, message_en: str, **details) -> AppError:
    return AppError(code, message, message_en, status_code=422, details=details or None)


def ensure_not_self(actor_nip: str | None, observed_nip: str) -> None:
    if actor_nip and actor_nip == observed_nip:
        raise Forbidden("observasi_diri_sendiri", "Anda tidak dapat mengobservasi praktik kinerja Anda sendiri.",
                        "You cannot observe your own practice.")


def ensure_next_stage(recorded: dict[str, date], stage: object, held_on: date, today: date) -> str:
    order = list(stages())
    if stage not in order:
        raise _invalid("tahap_observasi_tidak_dikenal", f"Tahap observasi harus salah satu dari {', '.join(order)}.",
                       f"stage must be one of {order}.")
    assert isinstance(stage, str)
    if stage in recorded:
        raise Conflict("tahap_sudah_dicatat", f"Tahap {stage} ({stages()[stage]}) sudah dicatat.",
                       f"Stage {stage} was already recorded.")
    expected = next((s for s in order if s not in recorded), None)
    if stage != expected:
        raise Conflict(
            "tahap_observasi_tidak_berurutan",
            f"Tahap {stage} ({stages()[stage]}) belum dapat dicatat: tahap {expected} ({stages()[expected]}) "
            "harus dicatat lebih dulu.",
            f"Stage {stage} cannot be recorded before stage {expected}.",
            details={"expected": expected, "given": stage},
        )
    previous = recorded.get(order[order.index(stage) - 1]) if stage != order[0] else None
    if previous and held_on < previous:
        raise _invalid("tanggal_tahap_tidak_valid",
                       f"Tanggal tahap {stage} tidak boleh sebelum tahap sebelumnya ({previous.isoformat()}).",
                       "A stage cannot be dated before the previous one.", previous=previous.isoformat())
    if held_on > today:
        raise _invalid("tanggal_tahap_tidak_valid", "Tanggal tahap tidak boleh di masa depan.",
                       "A stage cannot be dated in the future.")
    return stage


def parse_participants(value: object) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) and p.strip() for p in value):
        raise _invalid("peserta_wajib_diisi", "Peserta tahap observasi wajib diisi (daftar nama).",
                       "participants must be a non-empty list of names.")
    return [p.strip()[:200] for p in value]


def ensure_stage_reached(recorded: dict[str, date], stage: str, what: str) -> None:
    if stage not in recorded:
        raise Conflict("tahap_observasi_belum_sampai",
                       f"{what} baru dapat dicatat setelah tahap {stage} ({stages()[stage]}).",
                       f"{what} can be recorded after stage {stage}.", details={"needs": stage})


def parse_scores(items: object, focus: list[str]) -> list[dict]:
    """Scores for the plan's focus behaviours (any behaviour of the rubric when the plan names
    none), each with a level, evidence notes and a follow-up recommendation."""
    allowed = set(focus) or set(observation_rubric()["behaviours"])
    if not isinstance(items, list) or not items:
        raise _invalid("skor_observasi_tidak_valid", "Isi skor untuk setidaknya satu perilaku fokus.",
                       "scores must be a non-empty list.")
    seen: set[str] = set()
    out = []
    for item in items:
        item = item if isinstance(item, dict) else {}
        behaviour = item.get("behaviour")
        if behaviour not in allowed:
            raise _invalid("perilaku_fokus_tidak_dikenal",
                           f"Perilaku fokus '{str(behaviour)[:80]}' tidak ada dalam rencana kinerja.",
                           "The behaviour is not one of the plan's focus behaviours.",
                           allowed=sorted(allowed))
        if behaviour in seen:
            raise _invalid("skor_observasi_tidak_valid", f"Perilaku fokus '{behaviour}' disebut dua kali.",
                           "A behaviour is scored twice.")
        seen.add(behaviour)
        if item.get("level") not in levels():
            raise _invalid("tingkat_tidak_valid", f"Tingkat harus salah satu dari {', '.join(levels())}.",
                           f"level must be one of {list(levels())}.")
        notes = item.get("evidence_notes")
        follow_up = item.get("follow_up")
        if not (isinstance(notes, str) and notes.strip()) or not (isinstance(follow_up, str) and follow_up.strip()):
            raise _invalid("catatan_wajib_diisi",
                           f"Catatan bukti dan rekomendasi tindak lanjut untuk '{behaviour}' wajib diisi.",
                           "evidence_notes and follow_up are required.")
        out.append({"behaviour": behaviour, "level": item["level"], "level_label": levels()[item["level"]],
                    "evidence_notes": notes.strip()[:4000], "follow_up": follow_up.strip()[:4000]})
    return out


def parse_judgement(body: dict) -> dict:
    rubric = observation_rubric()
    out = {}
    for key, label in rubric["judgements"].items():
        value = body.get(key)
        if value not in rubric["judgement_levels"]:
            raise _invalid("penilaian_observasi_tidak_valid",
                           f"{label} harus salah satu dari {', '.join(rubric['judgement_levels'])}.",
                           f"{key} must be one of {list(rubric['judgement_levels'])}.", field=key)
        out[key] = value
    note = body.get("note")
    if not (isinstance(note, str) and note.strip()):
        raise _invalid("alasan_wajib_diisi", "Catatan penilaian observasi wajib diisi.", "note is required.",
                       field="note")
    out["note"] = note.strip()[:4000]
    return out


def missing_for_finalize(mode: str, recorded: set[str], started: bool) -> list[str]:
    """The stages still missing when the policy requires a complete observation."""
    if mode == "never" or (mode == "if_started" and not started):
        return []
    return [s for s in stages() if s not in recorded]


def ensure_complete(mode: str, recorded: set[str], started: bool, judged: bool) -> None:
    missing = missing_for_finalize(mode, recorded, started)
    needs_judgement = not missing and mode != "never" and (started or mode == "always") and not judged
    if missing or needs_judgement:
        what = ", ".join(f"{s} ({stages()[s]})" for s in missing) if missing else "penilaian observasi"
        raise Conflict(
            "observasi_belum_lengkap",
            f"Observasi praktik kinerja belum lengkap: {what} belum dicatat.",
            "The observation is incomplete.",
            details={"missing_stages": missing, "judgement_missing": needs_judgement},
        )
