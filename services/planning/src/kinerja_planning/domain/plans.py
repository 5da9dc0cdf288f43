"""A plan (SKP) in five steps, its monthly targets, and its approval: the state machine.

    draft --submit--> submitted --approve--> approved ("disepakati")
                          |
                          +--return--> returned ("dikembalikan", with a reason)
    returned --edit steps, submit--> submitted (revision + 1)

The steps (domain.md): 1 Praktik Kinerja (indicators from the school's Rapor Pendidikan
priorities; for a kepala sekolah, D.3 Kepemimpinan Instruksional), 2 Pengembangan Kompetensi
(activities with points; total within the policy's bounds), 3 Tugas Tambahan, 4 Perilaku
Kerja (the seven BerAKHLAK values; the PPK's specific expectation per value is required to
agree the plan), 5 Rangkuman. Monthly targets break the hasil kerja into months of the period.

A step is checked on its own when it is saved (nothing saved if it is wrong); submission checks
the whole plan and reports every problem at once. Every transition is kept in the history.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kinerja_shared.errors import AppError, Conflict, Forbidden

from kinerja_planning.domain.policy import Rubric

DRAFT, SUBMITTED, APPROVED, RETURNED = "draft", "submitted", "approved", "returned"
STATUS_LABELS = {DRAFT: "Draf", SUBMITTED: "Diajukan", APPROVED: "Disepakati", RETURNED: "Dikembalikan"}
EDITABLE = (DRAFT, RETURNED)

GURU, KEPALA_SEKOLAH = "guru", "kepala_sekolah"

STEPS = ("praktik_kinerja", "pengembangan_kompetensi", "tugas_tambahan", "perilaku_kerja", "rangkuman", "target_bulanan")
STEP_LABELS = {
    "praktik_kinerja": "Praktik Kinerja", "pengembangan_kompetensi": "Pengembangan Kompetensi",
    "tugas_tambahan": "Tugas Tambahan", "perilaku_kerja": "Perilaku Kerja", "rangkuman": "Rangkuman",
    "target_bulanan": "Target Bulanan",
}
BERAKHLAK = {
    "berorientasi_pelayanan": "Berorientasi Pelayanan", "akuntabel": "Akuntabel", "kompeten": "Kompeten",
    "harmonis": "Harmonis", "loyal": "Loyal", "adaptif": "Adaptif", "kolaboratif": "Kolaboratif",
}
MAX_ITEMS = 20
MAX_TEXT = 1000
SUMMARY_MAX_CHARS = 5000


@dataclass(frozen=True)
class Problem:
    step: str
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"step": self.step, "code": self.code, "message": self.message}


@dataclass
class PlanRules:
    """What a plan is checked against: the period's policy and the school's priorities."""

    kind: str
    rubric: Rubric
    priorities: frozenset[str]
    points_min: int
    points_max: int
    points_max_per_activity: int
    months: tuple[str, ...]  # every month of the period, YYYY-MM
    target_months: tuple[str, ...]  # months that must each have a target (execution)
    monthly_targets_required: bool


@dataclass(frozen=True)
class HistoryEntry:
    action: str  # created, submitted, resubmitted, approved, returned
    by: str
    at: datetime
    reason: str | None = None


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A trimmed string, or None when it is not a string or too long."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if len(value) <= limit else None


class _Checker:
    def __init__(self, step: str) -> None:
        self.step = step
        self.problems: list[Problem] = []

    def add(self, code: str, message: str) -> None:
        self.problems.append(Problem(self.step, code, message))

    def items(self, raw: Any, minimum: int = 0) -> list[dict]:
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            self.add("format_tidak_valid", f"{STEP_LABELS[self.step]} harus berupa daftar isian.")
            return []
        if len(raw) > MAX_ITEMS:
            self.add("terlalu_banyak_isian", f"{STEP_LABELS[self.step]} paling banyak {MAX_ITEMS} isian.")
            return []
        if len(raw) < minimum:
            self.add(f"{self.step}_wajib_diisi", f"Isi minimal {minimum} {STEP_LABELS[self.step]}.")
        return raw

    def item_id(self, raw: dict, seen: set[str], key: str = "item_id") -> str:
        item_id = raw.get(key)
        if item_id is None:
            item_id = _new_id()
        elif not isinstance(item_id, str) or not 1 <= len(item_id) <= 64:
            self.add("id_tidak_valid", "ID isian harus teks 1-64 karakter.")
            item_id = _new_id()
        if item_id in seen:
            self.add("id_ganda", f"ID isian '{item_id}' dipakai dua kali.")
        seen.add(item_id)
        return item_id


def step_error(problems: list[Problem]) -> AppError:
    """One error for a step that cannot be saved: the first problem's code, every problem listed."""
    return AppError(
        problems[0].code,
        " ".join(p.message for p in problems),
        f"The step cannot be saved: {len(problems)} problem(s).",
        status_code=422,
        details={"problems": [p.as_dict() for p in problems]},
    )


@dataclass
class Plan:
    plan_id: str
    period_id: str
    kind: str
    teacher_nip: str
    teacher_name: str
    school_npsn: str
    region_code: str
    assessor_nip: str
    status: str = DRAFT
    revision: int = 0
    praktik_kinerja: list[dict] = field(default_factory=list)
    pengembangan_kompetensi: list[dict] = field(default_factory=list)
    tugas_tambahan: list[dict] = field(default_factory=list)
    perilaku_kerja: dict[str, str] = field(default_factory=dict)
    rangkuman: str = ""
    target_bulanan: list[dict] = field(default_factory=list)
    return_reason: str | None = None
    submitted_at: datetime | None = None
    approved_at: datetime | None = None
    history: list[HistoryEntry] = field(default_factory=list)

    @classmethod
    def start(cls, *, plan_id: str, period_id: str, kind: str, teacher_nip: str, teacher_name: str,
              school_npsn: str, region_code: str, assessor_nip: str, at: datetime) -> Plan:
        return cls(plan_id=plan_id, period_id=period_id, kind=kind, teacher_nip=teacher_nip,
                   teacher_name=teacher_name, school_npsn=school_npsn, region_code=region_code,
                   assessor_nip=assessor_nip, history=[HistoryEntry("created", teacher_nip, at)])

    # ------------------------------------------------------------ reading
    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def last_change_at(self) -> datetime:
        return self.history[-1].at

    @property
    def indicators(self) -> list[str]:
        return [p["indicator"] for p in self.praktik_kinerja]

    @property
    def competency_points(self) -> int:
        return sum(a["points"] for a in self.pengembangan_kompetensi)

    def item_ids(self) -> set[str]:
        return {i["item_id"] for i in (*self.praktik_kinerja, *self.pengembangan_kompetensi, *self.tugas_tambahan)}

    # ------------------------------------------------------------ who may act
    def ensure_owner(self, nip: str | None) -> None:
        if nip != self.teacher_nip:
            raise Forbidden("akses_ditolak", "Rencana ini milik orang lain.", "This plan belongs to someone else.")

    def ensure_assessor(self, nip: str | None) -> None:
        if nip != self.assessor_nip:
            raise Forbidden(
                "bukan_penilai",
                "Hanya pejabat penilai kinerja pemilik rencana ini yang dapat menyetujui atau mengembalikannya.",
                "Only this plan's assessor may agree or return it.",
            )

    def _ensure_editable(self) -> None:
        if self.status == APPROVED:
            raise Conflict(
                "rencana_sudah_disepakati",
                "Rencana kinerja sudah disepakati dan tidak dapat diubah.",
                "The plan is agreed and cannot be changed.",
            )
        if self.status not in EDITABLE:
            raise _wrong_status(self.status, "diubah")

    # ------------------------------------------------------------ steps
    def save_step(self, step: str, raw: Any, rules: PlanRules, *, by: str, at: datetime) -> None:
        """Check one step on its own and keep it; nothing changes when it has a problem."""
        self.ensure_owner(by)
        self._ensure_editable()
        if step not in STEPS:
            raise AppError("langkah_tidak_dikenal", f"Langkah '{step}' tidak dikenal. Yang tersedia: {', '.join(STEPS)}.",
                           f"Unknown step '{step}'.", status_code=404)
        value, problems = getattr(self, f"_check_{step}")(raw, rules)
        if problems:
            raise step_error(problems)
        setattr(self, step, value)
        self.history.append(HistoryEntry(f"saved:{step}", by, at))

    def _check_praktik_kinerja(self, raw: Any, rules: PlanRules) -> tuple[list[dict], list[Problem]]:
        check = _Checker("praktik_kinerja")
        seen: set[str] = set()
        out = []
        for n, item in enumerate(check.items(raw), start=1):
            item_id = check.item_id(item, seen)
            code = _text(item.get("indicator"), 16)
            indicator = rules.rubric.indicators.get(code or "")
            if indicator is None:
                check.add("indikator_tidak_dikenal",
                          f"Isian {n}: indikator '{item.get('indicator')}' tidak dikenal di Rapor Pendidikan.")
                continue
            top = rules.rubric.top_level(indicator.code)
            if rules.kind == KEPALA_SEKOLAH:
                if top != rules.rubric.principal_indicator:
                    check.add("indikator_bukan_kepemimpinan",
                              f"Isian {n}: rencana kepala sekolah diturunkan dari {rules.rubric.principal_indicator} "
                              f"Kepemimpinan Instruksional, bukan {indicator.code}.")
                    continue
            elif not rules.priorities:
                check.add("prioritas_sekolah_belum_ditetapkan",
                          "Kepala sekolah belum menetapkan prioritas Rapor Pendidikan sekolah untuk periode ini.")
                continue
            elif top not in rules.priorities:
                check.add("indikator_bukan_prioritas",
                          f"Isian {n}: indikator {indicator.code} bukan prioritas sekolah "
                          f"(prioritas: {', '.join(sorted(rules.priorities))}).")
                continue
            allowed = set(indicator.focus_behaviours) or set(rules.rubric.indicators[top].focus_behaviours)
            behaviours = item.get("focus_behaviours") or []
            if not isinstance(behaviours, list) or not behaviours:
                check.add("perilaku_fokus_wajib_diisi", f"Isian {n}: pilih minimal satu perilaku fokus.")
                continue
            unknown = [b for b in behaviours if b not in allowed]
            if unknown:
                check.add("perilaku_fokus_tidak_dikenal",
                          f"Isian {n}: perilaku fokus tidak dikenal untuk {indicator.code}: {', '.join(map(str, unknown))}. "
                          f"Pilihan: {', '.join(sorted(allowed))}.")
                continue
            title = _text(item.get("title") or indicator.title, 255)
            if title is None:
                check.add("judul_tidak_valid", f"Isian {n}: judul paling banyak 255 karakter.")
                continue
            out.append({"item_id": item_id, "indicator": indicator.code, "title": title,
                        "focus_behaviours": list(dict.fromkeys(behaviours))})
        return out, check.problems

    def _check_pengembangan_kompetensi(self, raw: Any, rules: PlanRules) -> tuple[list[dict], list[Problem]]:
        check = _Checker("pengembangan_kompetensi")
        seen: set[str] = set()
        out = []
        for n, item in enumerate(check.items(raw), start=1):
            item_id = check.item_id(item, seen)
            activity = item.get("activity_type")
            if activity not in rules.rubric.competency_activities:
                check.add("jenis_kegiatan_tidak_dikenal",
                          f"Isian {n}: jenis kegiatan '{activity}' tidak dikenal. Pilihan: "
                          f"{', '.join(rules.rubric.competency_activities)}.")
                continue
            title = _text(item.get("title"), 255)
            if not title:
                check.add("judul_wajib_diisi", f"Isian {n}: tulis nama kegiatan (paling banyak 255 karakter).")
                continue
            points = item.get("points")
            if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= rules.points_max_per_activity:
                check.add("poin_kegiatan_di_luar_batas",
                          f"Isian {n}: poin kegiatan harus bilangan bulat 1 sampai {rules.points_max_per_activity}.")
                continue
            out.append({"item_id": item_id, "activity_type": activity, "title": title, "points": points})
        return out, check.problems

    def _check_tugas_tambahan(self, raw: Any, rules: PlanRules) -> tuple[list[dict], list[Problem]]:
        check = _Checker("tugas_tambahan")
        seen: set[str] = set()
        out = []
        for n, item in enumerate(check.items(raw), start=1):
            item_id = check.item_id(item, seen)
            duty = _text(item.get("duty"), 255)
            if not duty:
                check.add("tugas_wajib_diisi", f"Isian {n}: tulis tugas tambahannya (paling banyak 255 karakter).")
                continue
            description = _text(item.get("description") or "")
            if description is None:
                check.add("uraian_terlalu_panjang", f"Isian {n}: uraian paling banyak {MAX_TEXT} karakter.")
                continue
            out.append({"item_id": item_id, "duty": duty, "description": description})
        return out, check.problems

    def _check_perilaku_kerja(self, raw: Any, rules: PlanRules) -> tuple[dict[str, str], list[Problem]]:
        check = _Checker("perilaku_kerja")
        if not isinstance(raw, dict):
            check.add("format_tidak_valid", "Perilaku Kerja diisi per nilai BerAKHLAK: {nilai: ekspektasi}.")
            return {}, check.problems
        out = {}
        for value, text in raw.items():
            if value not in BERAKHLAK:
                check.add("nilai_berakhlak_tidak_dikenal",
                          f"'{value}' bukan nilai BerAKHLAK. Pilihan: {', '.join(BERAKHLAK)}.")
                continue
            cleaned = _text(text)
            if cleaned is None:
                check.add("ekspektasi_tidak_valid", f"{BERAKHLAK[value]}: ekspektasi berupa teks, paling banyak {MAX_TEXT} karakter.")
                continue
            if cleaned:
                out[value] = cleaned
        return out, check.problems

    def _check_rangkuman(self, raw: Any, rules: PlanRules) -> tuple[str, list[Problem]]:
        check = _Checker("rangkuman")
        text = _text(raw if raw is not None else "", SUMMARY_MAX_CHARS)
        if text is None:
            check.add("ringkasan_terlalu_panjang", f"Rangkuman berupa teks, paling banyak {SUMMARY_MAX_CHARS} karakter.")
        return text or "", check.problems

    def _check_target_bulanan(self, raw: Any, rules: PlanRules) -> tuple[list[dict], list[Problem]]:
        check = _Checker("target_bulanan")
        seen: set[str] = set()
        items = self.item_ids()
        out = []
        for n, item in enumerate(check.items(raw), start=1):
            target_id = check.item_id(item, seen, "target_id")
            month = item.get("month")
            if month not in rules.months:
                check.add("target_di_luar_periode",
                          f"Target {n}: bulan '{month}' di luar periode ({rules.months[0]} s.d. {rules.months[-1]}).")
                continue
            item_id = item.get("item_id")
            if item_id is not None and item_id not in items:
                check.add("isian_rencana_tidak_ada", f"Target {n}: isian rencana '{item_id}' tidak ada di rencana ini.")
                continue
            description = _text(item.get("description"))
            if not description:
                check.add("uraian_target_wajib_diisi", f"Target {n}: tulis uraian target (paling banyak {MAX_TEXT} karakter).")
                continue
            out.append({"target_id": target_id, "month": month, "item_id": item_id, "description": description})
        return sorted(out, key=lambda t: t["month"]), check.problems

    # ------------------------------------------------------------ the whole plan
    def problems(self, rules: PlanRules) -> list[Problem]:
        """Every problem that stops submission, each saved step rechecked against today's rules
        (the school's priorities may have changed since the step was saved)."""
        found: list[Problem] = []
        if not self.praktik_kinerja:
            found.append(Problem("praktik_kinerja", "praktik_kinerja_wajib_diisi",
                                 "Isi minimal satu indikator Praktik Kinerja."))
        for step in ("praktik_kinerja", "pengembangan_kompetensi", "tugas_tambahan", "target_bulanan"):
            found += getattr(self, f"_check_{step}")(getattr(self, step), rules)[1]
        total = self.competency_points
        if not rules.points_min <= total <= rules.points_max:
            found.append(Problem(
                "pengembangan_kompetensi", "poin_kompetensi_di_luar_batas",
                f"Total poin Pengembangan Kompetensi {total}; harus antara {rules.points_min} dan {rules.points_max}.",
            ))
        if rules.monthly_targets_required:
            covered = {t["month"] for t in self.target_bulanan}
            missing = [m for m in rules.target_months if m not in covered]
            if missing:
                found.append(Problem("target_bulanan", "target_bulanan_belum_lengkap",
                                     f"Belum ada target bulanan untuk: {', '.join(missing)}."))
        return found

    def submit(self, rules: PlanRules, *, by: str, at: datetime) -> None:
        self.ensure_owner(by)
        self._ensure_editable()
        found = self.problems(rules)
        if found:
            raise AppError(
                "rencana_belum_lengkap",
                f"Rencana belum dapat diajukan ({len(found)} masalah): " + " ".join(p.message for p in found),
                f"The plan cannot be submitted: {len(found)} problem(s).",
                status_code=422,
                details={"problems": [p.as_dict() for p in found]},
            )
        action = "resubmitted" if self.status == RETURNED else "submitted"
        self.status = SUBMITTED
        self.revision += 1
        self.return_reason = None
        self.submitted_at = at
        self.history.append(HistoryEntry(action, by, at))

    def approve(self, *, by: str, expectations: dict[str, str] | None, at: datetime) -> None:
        self.ensure_assessor(by)
        if self.status != SUBMITTED:
            raise _wrong_status(self.status, "disepakati")
        merged, problems = self._check_perilaku_kerja({**self.perilaku_kerja, **(expectations or {})}, None)  # type: ignore[arg-type]
        missing = [label for value, label in BERAKHLAK.items() if value not in merged]
        if missing:
            problems.append(Problem("perilaku_kerja", "ekspektasi_perilaku_belum_lengkap",
                                    f"Tuliskan ekspektasi khusus untuk: {', '.join(missing)}."))
        if problems:
            raise step_error(problems)
        self.perilaku_kerja = merged
        self.status = APPROVED
        self.approved_at = at
        self.history.append(HistoryEntry("approved", by, at))

    def return_for_revision(self, *, by: str, reason: str | None, at: datetime) -> None:
        self.ensure_assessor(by)
        reason = (reason or "").strip() if isinstance(reason, str) else ""
        if not reason:
            raise AppError("alasan_wajib_diisi", "Tuliskan alasan mengapa rencana dikembalikan.",
                           "A reason is required to return a plan.", status_code=422)
        if len(reason) > MAX_TEXT:
            raise AppError("alasan_terlalu_panjang", f"Alasan paling banyak {MAX_TEXT} karakter.",
                           f"The reason is limited to {MAX_TEXT} characters.", status_code=422)
        if self.status != SUBMITTED:
            raise _wrong_status(self.status, "dikembalikan")
        self.status = RETURNED
        self.return_reason = reason
        self.history.append(HistoryEntry("returned", by, at, reason))


def _wrong_status(status: str, action: str) -> Conflict:
    return Conflict(
        "status_rencana_tidak_sesuai",
        f"Rencana berstatus '{STATUS_LABELS.get(status, status)}' tidak dapat {action}.",
        f"A plan in status '{status}' cannot be {action}.",
        details={"status": status},
    )


def check_priorities(results: Any, priorities: Any, rubric: Rubric) -> tuple[dict[str, str], list[str]]:
    """A school's Rapor Pendidikan results (BAIK / SEDANG / KURANG per indicator) and the
    priorities its principal chose among them. Every problem at once."""
    problems: list[str] = []
    levels = ("BAIK", "SEDANG", "KURANG")
    top_level = {c for c, i in rubric.indicators.items() if i.parent is None}
    clean: dict[str, str] = {}
    if not isinstance(results, dict) or not results:
        problems.append("Isi hasil Rapor Pendidikan per indikator (Baik / Sedang / Kurang).")
        results = {}
    for code, level in results.items():
        if code not in top_level:
            problems.append(f"Indikator '{code}' tidak dikenal di Rapor Pendidikan.")
        elif not isinstance(level, str) or level.upper() not in levels:
            problems.append(f"{code}: capaian harus Baik, Sedang atau Kurang.")
        else:
            clean[code] = level.upper()
    chosen: list[str] = []
    if not isinstance(priorities, list) or not priorities:
        problems.append("Pilih minimal satu indikator prioritas.")
    else:
        for code in priorities:
            if code not in clean:
                problems.append(f"Prioritas '{code}' harus salah satu indikator yang hasilnya diisi.")
            elif code not in chosen:
                chosen.append(code)
    if problems:
        raise AppError("prioritas_tidak_valid", " ".join(problems), "The school's priorities are not valid.",
                       status_code=422, details={"problems": problems})
    return clean, chosen
