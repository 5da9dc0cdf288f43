"""Daily activity reports against monthly targets (reviewed a week at a time) and
competency-development records with points (verified, totalled against the plan's target).
Real NATS, real S3 (SeaweedFS), SQLite and PostgreSQL; refusals store nothing."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path

from kinerja_shared.testing.http import bearer
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).parent))
import evidence_samples as samples  # noqa: E402
from kinerja_evidence.domain.model import today_in_jakarta as jakarta_today  # noqa: E402

from kinerja_evidence.adapters.tables import CompetencyRecord, DailyReport  # noqa: E402


async def rows(service, table):
    async with service.runtime.session_factory() as session:
        return list((await session.exec(select(table))).all())


async def upload_pdf(service, plan, marker: str, item_id: str = "kom-1") -> str:
    data = samples.PDF.replace(b"trailer", f"% {marker}\ntrailer".encode())
    response = await service.client.post(
        "/v1/evidence", data={"plan_id": plan.plan_id, "item_id": item_id},
        files={"file": (f"{marker}.pdf", data, "application/pdf")}, headers=service.guru(plan.teacher_nip))
    assert response.status_code == 201, response.text
    return response.json()["evidence_id"]


async def test_daily_reports_are_checked_logged_and_reviewed_a_week_at_a_time(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    today = jakarta_today()
    photo = await upload_pdf(service, plan, "foto-kegiatan", item_id="pk-1")
    stranger_plan = await service.approved_plan(period_id=period)
    strangers_file = await upload_pdf(service, stranger_plan, "milik-orang-lain", item_id="pk-1")
    events_before = len(await service.outbox_events())

    def report(**overrides):
        body = {"plan_id": plan.plan_id, "target_id": "t-1", "report_date": str(today),
                "activity": "Menyusun modul ajar literasi kelas 4", "evidence_ids": []}
        body.update(overrides)
        return body

    bad = [
        ("in the future", report(report_date=str(today + timedelta(days=1))), 422, "tanggal_laporan_tidak_valid"),
        ("outside the period", report(report_date=str(today - timedelta(days=400))), 422, "tanggal_laporan_tidak_valid"),
        ("unknown target", report(target_id="t-99"), 422, "target_bulanan_tidak_ditemukan"),
        ("someone else's file", report(evidence_ids=[strangers_file]), 422, "bukti_tidak_sesuai"),
        ("empty activity", report(activity="   "), 422, "input_tidak_valid"),
        ("not a date", report(report_date="kemarin"), 422, "input_tidak_valid"),
    ]
    for label, body, status, code in bad:
        response = await service.client.post("/v1/daily-reports", json=body, headers=guru)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (label, response.text)
    other = await service.client.post("/v1/daily-reports", json=report(), headers=service.guru(stranger_plan.teacher_nip))
    assert other.status_code == 403
    assert await rows(service, DailyReport) == []
    assert len(await service.outbox_events()) == events_before

    # Reports on the days of this month so far (with a file on one of them).
    days = sorted({today - timedelta(days=d) for d in range(0, 3) if (today - timedelta(days=d)).month == today.month})
    created = []
    for i, day in enumerate(days):
        r = await service.client.post("/v1/daily-reports", headers=guru,
                                      json=report(report_date=str(day), evidence_ids=[photo] if i == 0 else []))
        assert r.status_code == 201, r.text
        created.append(r.json())
    assert created[0]["evidence_ids"] == [photo] and created[0]["status"] == "submitted"

    # Only the assessor reviews; a fix request needs a note.
    review = {"plan_id": plan.plan_id, "decision": "needs_fix", "note": "", "week_of": str(today)}
    by_owner = await service.client.post("/v1/daily-reports/review", json={**review, "note": "x"}, headers=guru)
    assert (by_owner.status_code, by_owner.json()["error"]["code"]) == (403, "peran_tidak_diizinkan")
    no_note = await service.client.post("/v1/daily-reports/review", json=review, headers=service.assessor())
    assert (no_note.status_code, no_note.json()["error"]["code"]) == (422, "catatan_wajib_diisi")
    monday = today - timedelta(days=today.weekday())
    this_week = [c for c in created if date.fromisoformat(c["report_date"]) >= monday]
    fix = await service.client.post("/v1/daily-reports/review", headers=service.assessor(),
                                    json={**review, "note": "Lampirkan foto kegiatan."})
    assert fix.status_code == 200, fix.text
    assert fix.json()["reviewed"] == len(this_week)
    listed = (await service.client.get("/v1/daily-reports", params={"plan_id": plan.plan_id}, headers=guru)).json()["reports"]
    fixed_ids = {r["report_id"] for r in this_week}
    for r in listed:
        if r["report_id"] in fixed_ids:
            assert (r["status"], r["review_note"]) == ("needs_fix", "Lampirkan foto kegiatan.")

    # The teacher fixes one; the assessor accepts the week.
    target = this_week[0]["report_id"]
    revised = await service.client.put(f"/v1/daily-reports/{target}", headers=guru,
                                       json={"activity": "Menyusun modul ajar (foto terlampir)", "evidence_ids": [photo]})
    assert revised.status_code == 200 and revised.json()["status"] == "submitted"
    accepted = await service.client.post("/v1/daily-reports/review", headers=service.assessor(),
                                         json={"plan_id": plan.plan_id, "decision": "accepted", "week_of": str(today)})
    assert accepted.json()["reviewed"] == 1  # only the revised one was waiting
    types = (await service.outbox_events())[events_before:]
    assert types.count("evidence.daily_report.submitted") == len(created) + 1
    assert types.count("evidence.daily_report.reviewed") == len(this_week) + 1


async def test_competency_points_bounded_verified_and_totalled(service):
    period = await service.open_period(per_activity=32)
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    cert_1 = await upload_pdf(service, plan, "sertifikat-pelatihan")
    cert_2 = await upload_pdf(service, plan, "laporan-komunitas")
    events_before = len(await service.outbox_events())

    def record(**overrides):
        body = {"plan_id": plan.plan_id, "item_id": "kom-1", "activity_type": "pelatihan",
                "title": "Pelatihan asesmen diagnostik", "points": 20, "evidence_id": cert_1}
        body.update(overrides)
        return body

    bad = [
        ("above the bound per activity", record(points=33), 422, "poin_melebihi_batas"),
        ("zero points", record(points=0), 422, "input_tidak_valid"),
        ("unknown type", record(activity_type="jalan_jalan"), 422, "input_tidak_valid"),
        ("no such evidence", record(evidence_id="tidak-ada"), 422, "bukti_tidak_sesuai"),
        ("unknown item", record(item_id="x"), 422, "butir_rencana_tidak_ditemukan"),
    ]
    for label, body, status, code in bad:
        response = await service.client.post("/v1/competency-records", json=body, headers=guru)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (label, response.text)
    assert (await service.client.post("/v1/competency-records", json=record(points=33), headers=guru)).json()["error"]["details"]["max_per_activity"] == 32
    assert await rows(service, CompetencyRecord) == []
    assert len(await service.outbox_events()) == events_before

    first = (await service.client.post("/v1/competency-records", json=record(), headers=guru)).json()
    second = (await service.client.post("/v1/competency-records", headers=guru, json=record(
        activity_type="komunitas_belajar", title="Komunitas belajar literasi", points=16, evidence_id=cert_2))).json()
    path = "/v1/competency-records/{}/review"
    not_assessor = await service.client.post(path.format(first["record_id"]), json={"decision": "verified"}, headers=guru)
    assert not_assessor.json()["error"]["code"] == "peran_tidak_diizinkan"  # a guru never reviews
    dinas = await service.client.post(path.format(first["record_id"]), json={"decision": "verified"},
                                      headers=bearer("dinas", region=plan.region))
    assert dinas.status_code == 403
    assert (await service.client.post(path.format(first["record_id"]), json={"decision": "verified"},
                                      headers=service.assessor())).json()["status"] == "verified"
    rejected = await service.client.post(path.format(second["record_id"]), headers=service.assessor(),
                                         json={"decision": "rejected", "reason": "Laporan tidak ditandatangani."})
    assert rejected.json()["review_reason"] == "Laporan tidak ditandatangani."

    summary = (await service.client.get("/v1/competency-records", params={"plan_id": plan.plan_id}, headers=guru)).json()
    assert (summary["verified_points"], summary["planned_points"], summary["points_min"]) == (20, 32, 32)
    assert summary["meets_minimum"] is False and summary["points_max_per_activity"] == 32
    assert [r["status"] for r in summary["records"]] == ["verified", "rejected"]

    async def reviewed_payloads():
        from kinerja_shared.messaging.outbox import OutboxMessage

        async with service.runtime.session_factory() as session:
            msgs = (await session.exec(select(OutboxMessage).where(
                OutboxMessage.event_type == "evidence.competency.reviewed").order_by(OutboxMessage.id))).all()
        return [json.loads(m.data)["payload"] for m in msgs]

    payloads = await reviewed_payloads()
    assert [(p["decision"], p["verified_points_total"]) for p in payloads] == [("verified", 20), ("rejected", 20)]


async def test_evidence_proving_a_record_cannot_be_deleted_from_under_it(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    cert = await upload_pdf(service, plan, "sertifikat")
    photo = await upload_pdf(service, plan, "foto", item_id="pk-1")
    record = await service.client.post("/v1/competency-records", headers=guru, json={
        "plan_id": plan.plan_id, "activity_type": "pelatihan", "title": "Pelatihan", "points": 8, "evidence_id": cert})
    assert record.status_code == 201, record.text
    report = await service.client.post("/v1/daily-reports", headers=guru, json={
        "plan_id": plan.plan_id, "target_id": "t-1", "report_date": str(jakarta_today()),
        "activity": "Mengajar", "evidence_ids": [photo]})
    assert report.status_code == 201, report.text
    for evidence_id, used_by in ((cert, record.json()["record_id"]), (photo, report.json()["report_id"])):
        refused = await service.client.delete(f"/v1/evidence/{evidence_id}", headers=guru)
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "bukti_masih_dipakai")
        assert refused.json()["error"]["details"]["used_by"] == [used_by]
    assert len(service.objects()) == 2
    # Once the record is rejected, its proof may go.
    rejected = await service.client.post(f"/v1/competency-records/{record.json()['record_id']}/review",
                                         json={"decision": "rejected", "reason": "Bukan sertifikat resmi."},
                                         headers=service.assessor())
    assert rejected.status_code == 200
    assert (await service.client.delete(f"/v1/evidence/{cert}", headers=guru)).status_code == 204
