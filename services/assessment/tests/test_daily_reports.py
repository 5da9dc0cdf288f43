"""Daily reports (laporan harian) in the PPK's workbench, from the evidence service's
DailyReportSubmitted / DailyReportReviewed on real NATS JetStream and both databases: counts by
review state per month against the plan's monthly targets, the latest "perlu perbaikan" notes a
page at a time, a duplicate delivery that changes nothing, a review that arrives before its
submission (and before the plan approval), and nobody else's reports in a PPK's view."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from kinerja_shared.events import MonthlyTarget, PersonRef, RosterImported, SchoolRef
from kinerja_shared.events.contracts import DailyReportReviewed, DailyReportSubmitted
from kinerja_shared.messaging.metrics import EVENTS_HANDLED
from kinerja_shared.testing.http import bearer
from sqlmodel import select

from assessment_harness import (
    GURU, KS, KS_AUTH, NPSN, REGION, applied, approved, assessment_for, eventually, open_assessments, period, publish,
    roster, snapshot,
)
from kinerja_assessment.adapters.tables import DailyReportView

NPSN2, KS2, GURU_B = "20299999", "197809122003122004", "199001152015042001"
KS2_AUTH = bearer("kepala_sekolah", nip=KS2, npsn=NPSN2)
T = datetime(2026, 2, 2, 2, 0, tzinfo=timezone.utc)
TARGETS = (MonthlyTarget(target_id="t-feb", month="2026-02", item_id="pk-1", description="Asesmen awal"),
           MonthlyTarget(target_id="t-mar", month="2026-03", item_id="pk-1", description="Pembelajaran berdiferensiasi"))
ZERO = {"submitted": 0, "accepted": 0, "needs_fix": 0}


def at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


@dataclass
class Report:
    plan_id: str
    period_id: str
    day: date
    target_id: str = "t-feb"
    nip: str = GURU
    npsn: str = NPSN
    assessor: str = KS
    report_id: str = ""

    def __post_init__(self) -> None:
        self.report_id = self.report_id or str(uuid.uuid4())

    def submitted(self, when: datetime) -> DailyReportSubmitted:
        return DailyReportSubmitted(
            report_id=self.report_id, plan_id=self.plan_id, period_id=self.period_id, teacher_nip=self.nip,
            school_npsn=self.npsn, target_id=self.target_id, report_date=self.day,
            activity="Melaksanakan asesmen awal kelas 4", submitted_at=when)

    def reviewed(self, decision: str, when: datetime, note: str = "") -> DailyReportReviewed:
        return DailyReportReviewed(
            report_id=self.report_id, plan_id=self.plan_id, period_id=self.period_id, teacher_nip=self.nip,
            school_npsn=self.npsn, report_date=self.day, decision=decision, note=note,
            reviewed_by=self.assessor, reviewed_at=when)


def roster_of_school_2() -> RosterImported:
    return RosterImported(
        import_id=str(uuid.uuid4()),
        school=SchoolRef(npsn=NPSN2, name="SD Negeri 2 Cibinong", region=REGION),
        people=[PersonRef(nip=KS2, name="Rina Marlina", role="kepala_sekolah", jenjang="Ahli Madya",
                          assessor_nip="196805141993031002"),
                PersonRef(nip=GURU_B, name="Budi Santoso", role="guru", jenjang="Ahli Pertama", assessor_nip=KS2)],
    )


async def workbench(client, assessment_id: str, auth=KS_AUTH, **params):
    return await client.get(f"/v1/assessments/{assessment_id}/workbench", headers=auth, params=params)


async def daily_reports_when(client, assessment_id: str, check, auth=KS_AUTH) -> dict:
    async def fetch():
        r = await workbench(client, assessment_id, auth)
        assert r.status_code == 200, r.text
        reports = r.json()["daily_reports"]
        return reports if check(reports) else None
    return await eventually(fetch, what="daily reports in the workbench")


async def report_rows(runtime) -> list[DailyReportView]:
    async with runtime.session_factory() as s:
        return list((await s.exec(select(DailyReportView).order_by(DailyReportView.report_id))).all())


async def test_states_per_month_against_targets_latest_needs_fix_notes_and_only_ones_own(service):
    runtime, client, js = service
    period_id, plan, plan_b = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    for event in (roster(), roster_of_school_2(), period(period_id),
                  approved(plan, period_id, monthly_targets=TARGETS),
                  approved(plan_b, period_id, nip=GURU_B, assessor=KS2, npsn=NPSN2, monthly_targets=TARGETS[:1])):
        await publish(js, event)
    a = await assessment_for(client, plan)

    r1 = Report(plan, period_id, date(2026, 2, 2))                       # accepted
    r2 = Report(plan, period_id, date(2026, 2, 3))                       # fix asked, resubmitted
    r3 = Report(plan, period_id, date(2026, 3, 2), target_id="t-mar")    # fix asked, not yet fixed
    r4 = Report(plan, period_id, date(2026, 3, 3), target_id="t-mar")    # waiting for the PPK
    b1 = Report(plan_b, period_id, date(2026, 2, 2), nip=GURU_B, npsn=NPSN2, assessor=KS2)
    sent = []
    for event in (
        r1.submitted(at(0)), r1.reviewed("accepted", at(1)),
        r2.submitted(at(0)), r2.reviewed("needs_fix", at(1), "Lampirkan foto kegiatan"), r2.submitted(at(2)),
        r3.submitted(at(700)), r3.reviewed("needs_fix", at(720), "Uraian kegiatan terlalu singkat"),
        r4.submitted(at(730)),
        b1.submitted(at(0)), b1.reviewed("needs_fix", at(1), "Catatan untuk guru sekolah lain"),
    ):
        sent.append(await publish(js, event))
    # Every event applied, not just counts that look right: a retried submission (its row was
    # inserted meanwhile by the review that overtook it) may still be on its way.
    await applied(runtime, *sent)

    expected = {"submitted": 2, "accepted": 1, "needs_fix": 1}
    reports = await daily_reports_when(client, a["assessment_id"],
                                       lambda d: d["by_status"] == expected and d["needs_fix_notes"]["total"] == 2)
    assert (reports["available"], reports["targets_known"], reports["total"], reports["awaiting_review"]) == (True, True, 4, 2)
    assert reports["states"] == {"submitted": "Diajukan", "accepted": "Diterima", "needs_fix": "Perlu perbaikan"}
    months = {m["month"]: m for m in reports["months"]}
    assert list(months) == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    assert months["2026-01"]["by_status"] == ZERO and months["2026-01"]["targets"] == 0
    feb, mar = months["2026-02"], months["2026-03"]
    assert (feb["by_status"], feb["targets"], feb["targets_covered"]) == ({**ZERO, "submitted": 1, "accepted": 1}, 1, 1)
    assert (mar["by_status"], mar["targets"], mar["targets_covered"]) == ({**ZERO, "submitted": 1, "needs_fix": 1}, 1, 0)
    assert mar["target_items"] == [{"target_id": "t-mar", "item_id": "pk-1", "description": "Pembelajaran berdiferensiasi",
                                    "by_status": {**ZERO, "submitted": 1, "needs_fix": 1}}]
    # The latest notes first; the one already fixed says so.
    notes = reports["needs_fix_notes"]["items"]
    assert [(n["report_id"], n["note"], n["status"], n["awaiting_fix"]) for n in notes] == [
        (r3.report_id, "Uraian kegiatan terlalu singkat", "needs_fix", True),
        (r2.report_id, "Lampirkan foto kegiatan", "submitted", False)]
    assert (notes[0]["report_date"], notes[0]["target_id"], notes[0]["reviewed_by"]) == ("2026-03-02", "t-mar", KS)

    # A page at a time.
    r = await workbench(client, a["assessment_id"], notes_limit=1, notes_offset=1)
    page = r.json()["daily_reports"]["needs_fix_notes"]
    assert (page["total"], page["limit"], page["offset"], [n["report_id"] for n in page["items"]]) == (2, 1, 1, [r2.report_id])
    r = await workbench(client, a["assessment_id"], notes_limit=0)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "input_tidak_valid")

    # The other school's teacher: only their own PPK sees their reports, and nobody else's.
    b = await eventually(lambda: _assessment(client, plan_b, KS2_AUTH))
    theirs = await daily_reports_when(client, b["assessment_id"], lambda d: d["total"] == 1, auth=KS2_AUTH)
    assert theirs["by_status"] == {**ZERO, "needs_fix": 1}
    assert [n["note"] for n in theirs["needs_fix_notes"]["items"]] == ["Catatan untuk guru sekolah lain"]
    assert all(n["report_id"] != b1.report_id for n in notes)
    for who, assessment_id in ((KS_AUTH, b["assessment_id"]), (KS2_AUTH, a["assessment_id"])):
        r = await workbench(client, assessment_id, auth=who)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "akses_ditolak")
    r = await workbench(client, a["assessment_id"], auth=bearer("guru", nip=GURU, npsn=NPSN))
    assert r.status_code == 403  # the teacher reads their own reports in the evidence service


async def _assessment(client, plan_id: str, auth) -> dict | None:
    r = await client.get("/v1/assessments", params={"plan_id": plan_id}, headers=auth)
    found = r.json()["assessments"]
    return found[0] if found else None


async def test_the_same_event_delivered_twice_changes_nothing(service):
    runtime, client, js = service
    period_id, [a] = await open_assessments(runtime, client, js, GURU)
    report = Report(a["plan_id"], period_id, date(2026, 2, 2))
    first = await publish(js, report.submitted(at(0)))
    await applied(runtime, first)
    before = await snapshot(runtime)

    # The same envelope again under another Nats-Msg-Id (JetStream's de-duplication does not
    # catch it): the inbox does, nothing changes.
    duplicates = EVENTS_HANDLED.labels("assessment-evidence", "duplicate")
    seen = duplicates._value.get()
    await js.publish(first.subject(), first.model_dump_json().encode(), headers={"Nats-Msg-Id": f"again-{first.event_id}"})
    await eventually(lambda: _gt(duplicates._value.get(), seen), what="the duplicate acknowledged")
    assert await snapshot(runtime) == before

    # The same review published twice as two events (two event ids): one state, one note.
    review = report.reviewed("needs_fix", at(1), "Lampirkan daftar hadir")
    await applied(runtime, await publish(js, review))
    rows = [r.model_dump() for r in await report_rows(runtime)]
    await applied(runtime, await publish(js, review), await publish(js, report.submitted(at(0))))
    assert [r.model_dump() for r in await report_rows(runtime)] == rows
    [row] = rows
    assert (row["status"], row["fix_note"], row["submitted"], row["target_id"]) == ("needs_fix", "Lampirkan daftar hadir", True, "t-feb")
    r = await workbench(client, a["assessment_id"])
    reports = r.json()["daily_reports"]
    assert (reports["by_status"], reports["needs_fix_notes"]["total"]) == ({**ZERO, "needs_fix": 1}, 1)


async def _gt(value: float, than: float) -> bool:
    return value > than


async def test_a_review_before_its_submission_is_kept_and_reconciled(service):
    runtime, client, js = service
    period_id, plan_id = str(uuid.uuid4()), str(uuid.uuid4())
    report = Report(plan_id, period_id, date(2026, 2, 9))
    # The review comes first, even before the plan approval; the assessment does not exist yet.
    await applied(runtime, await publish(js, report.reviewed("needs_fix", at(5), "Tambahkan refleksi pembelajaran")))
    [row] = await report_rows(runtime)
    assert (row.status, row.submitted, row.target_id, row.teacher_nip, row.report_month) == (
        "needs_fix", False, None, GURU, "2026-02")
    for event in (roster(), period(period_id), approved(plan_id, period_id, monthly_targets=TARGETS)):
        await publish(js, event)
    a = await assessment_for(client, plan_id)
    reports = await daily_reports_when(client, a["assessment_id"], lambda d: d["total"] == 1)
    assert (reports["by_status"], reports["without_known_target"]) == ({**ZERO, "needs_fix": 1}, 1)
    assert reports["needs_fix_notes"]["items"][0]["target_id"] is None

    # Then the acceptance of the fix, and only then the original submission and the fix.
    late = [await publish(js, report.reviewed("accepted", at(12))), await publish(js, report.submitted(at(0))),
            await publish(js, report.submitted(at(9)))]
    await applied(runtime, *late)
    [row] = await report_rows(runtime)
    assert (row.status, row.status_at, row.submitted, row.target_id) == ("accepted", at(12), True, "t-feb")
    reports = (await workbench(client, a["assessment_id"])).json()["daily_reports"]
    assert (reports["by_status"], reports["without_known_target"]) == ({**ZERO, "accepted": 1}, 0)
    feb = next(m for m in reports["months"] if m["month"] == "2026-02")
    assert (feb["targets"], feb["targets_covered"]) == (1, 1)
    [note] = reports["needs_fix_notes"]["items"]
    assert (note["note"], note["status"], note["awaiting_fix"], note["target_id"]) == (
        "Tambahkan refleksi pembelajaran", "accepted", False, "t-feb")
