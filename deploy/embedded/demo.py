"""One semester for the sample school, driven through the public HTTP APIs only.

Used by `make demo` (and by `make run` to seed the sample school); the end-to-end tests run
the same flow and then check the APIs, the e-Kinerja simulator's records and the event stream.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx

from kinerja_shared.dev_issuer import dev_token

ROSTER = Path(__file__).with_name("sample_roster.csv")
NPSN = "20212345"
REGION = "020500"

# Ratings chosen so the semester shows several predikat (PermenPANRB 6/2022 matrix).
RATINGS = [
    ("DI_ATAS", "DI_ATAS"),  # Sangat Baik
    ("SESUAI", "SESUAI"),  # Baik
    ("DI_BAWAH", "SESUAI"),  # Butuh Perbaikan
    ("DI_ATAS", "SESUAI"),  # Baik
    ("SESUAI", "DI_BAWAH"),  # Kurang
    ("DI_BAWAH", "DI_BAWAH"),  # Sangat Kurang
]
# The school's Rapor Pendidikan results and the priorities the principal picks from them.
RAPOR = {"A.1": "KURANG", "A.2": "SEDANG", "A.3": "BAIK", "D.1": "KURANG", "D.4": "BAIK", "D.8": "SEDANG"}
PRIORITIES = ["A.1", "A.2", "D.1"]
# Each teacher's Praktik Kinerja, drawn from those priorities (D.1.x are sub-indicators).
INDICATORS = [["A.1", "D.1"], ["A.2"], ["D.1.2"], ["A.1"], ["D.1.1"], ["A.2", "D.1"]]
WIB = timezone(timedelta(hours=7))

# A tiny but real PDF: enough for the content check (it starts with %PDF-).
SAMPLE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def people() -> list[dict[str, str]]:
    with ROSTER.open(newline="") as f:
        return list(csv.DictReader(f))


def teachers() -> list[dict[str, str]]:
    return [p for p in people() if p["role"] == "guru"]


def principal() -> dict[str, str]:
    return next(p for p in people() if p["role"] == "kepala_sekolah")


def auth(role: str, nip: str | None = None, npsn: str | None = None, region: str | None = None) -> dict:
    # From the stack's development issuer (the services verify it through its JWKS).
    token = dev_token(sub=nip or role, role=role, nip=nip, npsn=npsn, region=region)
    return {"Authorization": f"Bearer {token}"}


DINAS = lambda: auth("dinas", region=REGION)  # noqa: E731
# The province's Dinas: the periods are the calendar of KINERJA_PERIOD_REGION (stack.py).
PROVINCE_DINAS = lambda: auth("dinas", region=REGION[:2] + "0000")  # noqa: E731


def check(response: httpx.Response, *expected: int) -> dict:
    if response.status_code not in expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text[:500]}"
        )
    return response.json() if response.content else {}


def eventually(fn: Callable[[], object], what: str, timeout: float = 60.0, interval: float = 0.25):
    """Events cross services asynchronously: poll until fn returns something truthy."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = fn()
            if result:
                return result
        except (RuntimeError, httpx.HTTPError) as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}" + (f": {last_error}" if last_error else ""))


def import_roster(client: httpx.Client, planning: str) -> dict:
    return check(
        client.post(
            f"{planning}/v1/roster/imports",
            content=ROSTER.read_bytes(),
            headers={**DINAS(), "Content-Type": "text/csv"},
        ),
        201,
    )


def open_period(client: httpx.Client, planning: str, year: int) -> dict:
    """Semester 1 of ``year`` under pmm-2024, created if needed; the planning service's clock
    opens it on its first day (nobody presses a button): wait for that."""
    existing = check(client.get(f"{planning}/v1/periods", headers=DINAS()), 200)
    period = next((p for p in existing.get("periods", [])
                   if p["policy"] == "pmm-2024" and p["year"] == year and p["semester"] == 1), None)
    if period is None:
        period = check(client.post(f"{planning}/v1/periods", json={"policy": "pmm-2024", "year": year, "semester": 1},
                                   headers=PROVINCE_DINAS()), 201)

    def opened():
        found = check(client.get(f"{planning}/v1/periods/{period['period_id']}", headers=DINAS()), 200)
        return found if found["status"] != "scheduled" else None

    return eventually(opened, "the clock to open the period")


def set_priorities(client: httpx.Client, planning: str, period_id: str, ks_auth: dict) -> dict:
    return check(client.put(f"{planning}/v1/schools/{NPSN}/priorities/{period_id}",
                            json={"results": RAPOR, "priorities": PRIORITIES}, headers=ks_auth), 200)


def seed_sample_school(stack) -> str:
    """For `make run`: the sample school, the clock in the planning stage of Semester 1 of this
    year (10 January, 10:00 WIB), that period open and the school's priorities set."""
    year = date.today().year
    stack.set_clock(datetime(year, 1, 10, 10, 0, tzinfo=WIB))
    ks = principal()
    with httpx.Client(timeout=30) as client:
        roster = import_roster(client, stack.url("planning"))
        period = open_period(client, stack.url("planning"), year)
        set_priorities(client, stack.url("planning"), period["period_id"],
                       auth("kepala_sekolah", nip=ks["nip"], npsn=NPSN))
    return (
        f"seeded: school {NPSN} (SD Negeri 1 Cibinong), {roster.get('people')} people; "
        f"period {period['name']} is {period['status']}, stage {period.get('current_stage')}; "
        f"priorities {', '.join(PRIORITIES)}"
    )


def plan_steps(rubric: dict, indicators: list[str], year: int, name: str) -> dict:
    """A whole plan in one request (a teacher on a slow connection sends it at once)."""
    focus = {i["code"]: i["focus_behaviours"] for i in rubric["indicators"]}
    return {
        "praktik_kinerja": [{"item_id": f"pk{n}", "indicator": code, "focus_behaviours": focus[code][:1]}
                            for n, code in enumerate(indicators, start=1)],
        "pengembangan_kompetensi": [
            {"item_id": "c1", "activity_type": "komunitas_belajar", "title": "Komunitas belajar literasi", "points": 16},
            {"item_id": "c2", "activity_type": "pelatihan", "title": "Pelatihan pembelajaran berdiferensiasi", "points": 16},
        ],
        "tugas_tambahan": [],
        "rangkuman": f"Rencana kinerja {name}",
        "target_bulanan": [{"month": f"{year}-{m:02d}", "item_id": "pk1", "description": f"Target praktik kinerja bulan {m}"}
                           for m in range(2, 6)],
    }


EXPECTATIONS = {
    "berorientasi_pelayanan": "Melayani murid dan orang tua dengan ramah.",
    "akuntabel": "Menyelesaikan laporan tepat waktu.",
    "kompeten": "Menerapkan hasil komunitas belajar di kelas.",
    "harmonis": "Menghargai rekan sejawat.",
    "loyal": "Menjaga nama baik sekolah.",
    "adaptif": "Mencoba strategi pembelajaran baru.",
    "kolaboratif": "Aktif berbagi praktik baik.",
}


@dataclass
class TeacherResult:
    name: str
    nip: str
    predikat: str = "-"
    ekinerja_status: str = "-"


@dataclass
class SemesterResult:
    rows: list[TeacherResult] = field(default_factory=list)
    period_id: str = ""

    @property
    def distinct_predikat(self) -> int:
        return len({r.predikat for r in self.rows if r.predikat != "-"})

    @property
    def mirrored(self) -> int:
        return sum(1 for r in self.rows if r.ekinerja_status == "acknowledged")

    @property
    def ok(self) -> bool:
        return bool(self.rows) and self.mirrored == len(self.rows) and self.distinct_predikat >= 3

    def summary_line(self) -> str:
        n = len(self.rows)
        return f"demo: {n} teachers, {self.distinct_predikat} distinct predikat, {self.mirrored}/{n} mirrored to e-Kinerja"

    def table(self) -> str:
        header = f"{'teacher':<32} {'NIP':<19} {'predikat':<18} e-Kinerja"
        lines = [header, "-" * len(header)]
        lines += [f"{r.name:<32} {r.nip:<19} {r.predikat:<18} {r.ekinerja_status}" for r in self.rows]
        return "\n".join(lines)


def run_semester(
    stack, out: Callable[[str], None] = print, year: int | None = None, sync_timeout: float = 60
) -> SemesterResult:
    planning, evidence = stack.url("planning"), stack.url("evidence")
    assessment, sync = stack.url("assessment"), stack.url("ekinerja-sync")
    ks = principal()
    ks_auth = auth("kepala_sekolah", nip=ks["nip"], npsn=NPSN)
    result = SemesterResult()
    year = year or date.today().year
    with httpx.Client(timeout=30) as client:
        # January: planning. Every service reads the same clock (the stack's clock file).
        stack.set_clock(datetime(year, 1, 10, 10, 0, tzinfo=WIB))
        roster = import_roster(client, planning)
        out(f"roster imported: {roster.get('people')} people of school {NPSN}")
        period = open_period(client, planning, year)
        result.period_id = period["period_id"]
        out(f"period opened by the clock: {period['name']} ({period['starts_on']} .. {period['ends_on']}), "
            f"plans due {period['planning_deadline']} 23:59:59 WIB")
        set_priorities(client, planning, period["period_id"], ks_auth)
        out(f"Rapor Pendidikan priorities of the school: {', '.join(PRIORITIES)}")
        rubric = check(client.get(f"{planning}/v1/policies", headers=ks_auth), 200)

        # Plans: every teacher sends the five steps with monthly targets and submits; the
        # principal agrees all but one, which is returned, revised and agreed.
        plans: dict[str, dict] = {}
        for teacher, indicators in zip(teachers(), INDICATORS):
            guru = auth("guru", nip=teacher["nip"], npsn=NPSN)
            draft = check(client.post(f"{planning}/v1/plans", json={
                "period_id": period["period_id"], **plan_steps(rubric, indicators, year, teacher["name"])},
                headers=guru), 201)
            plans[teacher["nip"]] = check(client.post(f"{planning}/v1/plans/{draft['plan_id']}/submit", headers=guru), 200)
        returned_nip = teachers()[2]["nip"]
        for nip, plan in plans.items():
            if nip == returned_nip:
                guru = auth("guru", nip=nip, npsn=NPSN)
                check(client.post(f"{planning}/v1/plans/{plan['plan_id']}/return",
                                  json={"reason": "Tambahkan indikator numerasi (A.2) sesuai prioritas sekolah."},
                                  headers=ks_auth), 200)
                revised = plan_steps(rubric, ["D.1.2", "A.2"], year, "revisi")["praktik_kinerja"]
                check(client.put(f"{planning}/v1/plans/{plan['plan_id']}/steps/praktik_kinerja", json=revised,
                                 headers=guru), 200)
                check(client.post(f"{planning}/v1/plans/{plan['plan_id']}/submit", headers=guru), 200)
                out(f"plan of {nip} returned with a reason, revised and resubmitted")
            check(client.post(f"{planning}/v1/plans/{plan['plan_id']}/approve",
                              json={"perilaku_kerja": EXPECTATIONS}, headers=ks_auth), 200)
        out(f"{len(plans)} plans disepakati by the kepala sekolah")

        # February: execution.
        stack.set_clock(datetime(year, 2, 16, 10, 0, tzinfo=WIB))
        # Evidence: each teacher uploads a bukti dukung once the evidence service knows the
        # plan is agreed (it learns it from the PlanApproved event).
        for teacher in teachers():
            guru = auth("guru", nip=teacher["nip"], npsn=NPSN)
            plan_id = plans[teacher["nip"]]["plan_id"]

            def upload():
                response = client.post(
                    f"{evidence}/v1/evidence",
                    data={"plan_id": plan_id},
                    files={"file": ("laporan-praktik-kinerja.pdf", SAMPLE_PDF, "application/pdf")},
                    headers=guru,
                )
                if response.status_code == 409 and response.json()["error"]["code"] == "rencana_belum_disepakati":
                    return None  # the approval has not reached the evidence service yet
                return check(response, 201)

            eventually(upload, f"evidence upload for {teacher['nip']}")
        out(f"{len(plans)} bukti dukung uploaded")

        # June: assessment. The principal rates and finalizes each teacher.
        stack.set_clock(datetime(year, 6, 8, 10, 0, tzinfo=WIB))
        def assessments_ready():
            found = check(client.get(f"{assessment}/v1/assessments", params={"npsn": NPSN,
                          "period_id": period["period_id"]}, headers=ks_auth), 200)["assessments"]
            return found if len(found) >= len(plans) else None

        by_plan = {a["plan_id"]: a for a in eventually(assessments_ready, "assessments")}
        for teacher, (hasil, perilaku) in zip(teachers(), RATINGS):
            a = by_plan[plans[teacher["nip"]]["plan_id"]]
            check(client.put(f"{assessment}/v1/assessments/{a['assessment_id']}/ratings",
                             json={"rating_hasil_kerja": hasil, "rating_perilaku_kerja": perilaku,
                                   "reason": "Berdasarkan observasi dan bukti dukung."},
                             headers=ks_auth), 200)
            final = check(client.post(f"{assessment}/v1/assessments/{a['assessment_id']}/finalize",
                                      headers=ks_auth), 200)
            result.rows.append(TeacherResult(teacher["name"], teacher["nip"], final["predikat_label"]))
        out(f"{len(result.rows)} assessments finalized")

        # e-Kinerja: wait until the sync log shows every result acknowledged (or give up).
        def all_synced():
            log = check(client.get(f"{sync}/v1/sync-log/schools/{NPSN}", params={"kind": "hasil"},
                                   headers=DINAS()), 200)
            status = {r["teacher_nip"]: r["status"] for r in log["records"]}
            for row in result.rows:
                row.ekinerja_status = status.get(row.nip, "-")
            return all(r.ekinerja_status == "acknowledged" for r in result.rows)

        try:
            eventually(all_synced, "e-Kinerja sync", timeout=sync_timeout)
        except TimeoutError as exc:
            out(f"warning: {exc}")
    out("")
    out(result.table())
    return result
