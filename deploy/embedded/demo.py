"""One semester for the sample school, driven through the public HTTP APIs only.

Used by `make demo` (and by `make run` to seed the sample school); the end-to-end tests run
the same flow and then check the APIs, the e-Kinerja simulator's records and the event stream.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx

from kinerja_shared.auth import mint_token
from kinerja_shared.settings import ServiceSettings

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
INDICATORS = [["A.1", "D.1"], ["A.2"], ["D.1"], ["A.3", "D.4"], ["D.8"], ["A.1"]]

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
    token = mint_token(ServiceSettings().jwt_secret, sub=nip or role, role=role, nip=nip, npsn=npsn, region=region)
    return {"Authorization": f"Bearer {token}"}


DINAS = lambda: auth("dinas", region=REGION)  # noqa: E731


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
    existing = check(client.get(f"{planning}/v1/periods", headers=DINAS()), 200)
    for period in existing.get("periods", []):
        if period["policy"] == "pmm-2024" and period["year"] == year and period["semester"] == 1:
            if period["status"] == "scheduled":
                return check(client.post(f"{planning}/v1/periods/{period['period_id']}/open", headers=DINAS()), 200)
            return period
    created = check(
        client.post(f"{planning}/v1/periods", json={"policy": "pmm-2024", "year": year, "semester": 1}, headers=DINAS()),
        201,
    )
    return check(client.post(f"{planning}/v1/periods/{created['period_id']}/open", headers=DINAS()), 200)


def seed_sample_school(stack) -> str:
    with httpx.Client(timeout=30) as client:
        roster = import_roster(client, stack.url("planning"))
        period = open_period(client, stack.url("planning"), date.today().year)
    return (
        f"seeded: school {NPSN} (SD Negeri 1 Cibinong), {roster.get('people')} people; "
        f"period {period['name']} is {period['status']}"
    )


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
    with httpx.Client(timeout=30) as client:
        roster = import_roster(client, planning)
        out(f"roster imported: {roster.get('people')} people of school {NPSN}")
        period = open_period(client, planning, year or date.today().year)
        result.period_id = period["period_id"]
        out(f"period opened: {period['name']} ({period['starts_on']} .. {period['ends_on']})")

        # Plans: every teacher submits; the principal agrees all but one, which is returned,
        # revised and agreed.
        plans: dict[str, dict] = {}
        for teacher, indicators in zip(teachers(), INDICATORS):
            guru = auth("guru", nip=teacher["nip"], npsn=NPSN)
            plans[teacher["nip"]] = check(
                client.post(
                    f"{planning}/v1/plans",
                    json={"period_id": period["period_id"], "indicators": indicators,
                          "summary": f"Rencana kinerja {teacher['name']}"},
                    headers=guru,
                ),
                201,
            )
        returned_nip = teachers()[2]["nip"]
        for nip, plan in plans.items():
            if nip == returned_nip:
                check(client.post(f"{planning}/v1/plans/{plan['plan_id']}/return",
                                  json={"reason": "Indikator belum selaras dengan prioritas sekolah (D.1)."},
                                  headers=ks_auth), 200)
                check(client.post(f"{planning}/v1/plans/{plan['plan_id']}/resubmit",
                                  json={"indicators": ["D.1", "A.2"], "summary": "Rencana direvisi"},
                                  headers=auth("guru", nip=nip, npsn=NPSN)), 200)
                out(f"plan of {nip} returned with a reason, revised and resubmitted")
            check(client.post(f"{planning}/v1/plans/{plan['plan_id']}/approve", headers=ks_auth), 200)
        out(f"{len(plans)} plans disepakati by the kepala sekolah")

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
                if response.status_code == 409:
                    return None  # the approval has not reached the evidence service yet
                return check(response, 201)

            eventually(upload, f"evidence upload for {teacher['nip']}")
        out(f"{len(plans)} bukti dukung uploaded")

        # Assessment: the principal rates and finalizes each teacher.
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
            log = check(client.get(f"{sync}/v1/sync-log/schools/{NPSN}", headers=DINAS()), 200)
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
