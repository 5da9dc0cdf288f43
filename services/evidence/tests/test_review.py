"""Reuse detection by SHA-256, the assessor's verification, deletion, and evidence becoming
read-only when the assessment is final; the period read model deciding the execution window.
Real S3 (SeaweedFS), real NATS JetStream, SQLite and PostgreSQL."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kinerja_shared.events import make_envelope, AssessmentFinalized, PeriodClosed, PeriodScheduleChanged, PeriodStage, PersonRef
from kinerja_shared.testing.http import bearer
from kinerja_shared.testing.wait import eventually as wait_for
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).parent))
import evidence_samples as samples  # noqa: E402
from kinerja_evidence.domain.model import today_in_jakarta as jakarta_today  # noqa: E402

from kinerja_evidence.adapters.tables import FinalizedAssessment, PeriodView  # noqa: E402

CERT = samples.PDF.replace(b"trailer", b"% Sertifikat Pelatihan Asesmen Diagnostik\ntrailer")


async def upload(service, plan, data=CERT, item_id="kom-1", name="sertifikat.pdf"):
    form = {"plan_id": plan.plan_id}
    if item_id:
        form["item_id"] = item_id
    return await service.client.post(
        "/v1/evidence", data=form, files={"file": (name, data, "application/pdf")},
        headers=service.guru(plan.teacher_nip),
    )


async def test_the_same_file_used_again_is_flagged_not_silently_accepted(service):
    period = await service.open_period()
    plan_a = await service.approved_plan(period_id=period)
    first = await upload(service, plan_a)
    assert first.status_code == 201, first.text
    first_id = first.json()["evidence_id"]
    own = (await service.client.get(f"/v1/evidence/{first_id}", headers=service.guru(plan_a.teacher_nip))).json()
    assert own["reuse_flagged"] is False

    # The same teacher, the same item again: a duplicate, refused, nothing stored.
    duplicate = await upload(service, plan_a)
    assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (409, "bukti_duplikat")
    assert duplicate.json()["error"]["details"]["evidence_id"] == first_id
    assert len(service.objects()) == 1 and len(await service.evidence_rows()) == 1

    # The same teacher, another item; the same teacher in another period; another teacher.
    other_item = await upload(service, plan_a, item_id="pk-2")
    period_2 = await service.open_period()
    plan_a2 = await service.approved_plan(plan_a.teacher_nip, period_id=period_2)
    other_period = await upload(service, plan_a2)
    plan_b = await service.approved_plan(period_id=period)
    other_teacher = await upload(service, plan_b)
    for response in (other_item, other_period, other_teacher):
        assert response.status_code == 201, response.text

    rows = {r.evidence_id: r for r in await service.evidence_rows()}
    assert rows[first_id].reuse_flagged is False
    for response in (other_item, other_period, other_teacher):
        assert rows[response.json()["evidence_id"]].reuse_flagged is True

    # The assessor sees where else the bytes were used; the teacher sees only the flag.
    b_id = other_teacher.json()["evidence_id"]
    seen_by_assessor = (await service.client.get(f"/v1/evidence/{b_id}", headers=service.assessor())).json()
    assert seen_by_assessor["reuse_flagged"] is True
    earlier = {r["evidence_id"]: r for r in seen_by_assessor["reuse_of"]}
    assert first_id in earlier and earlier[first_id]["teacher_nip"] == plan_a.teacher_nip
    seen_by_owner = (await service.client.get(f"/v1/evidence/{b_id}", headers=service.guru(plan_b.teacher_nip))).json()
    assert seen_by_owner["reuse_flagged"] is True and "reuse_of" not in seen_by_owner

    # The flag travels on the event.
    async def events():
        from kinerja_shared.messaging.outbox import OutboxMessage

        async with service.runtime.session_factory() as session:
            msgs = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return msgs if len(msgs) == 4 else None

    import json

    payloads = [json.loads(m.data)["payload"] for m in await wait_for(events)]
    assert [p["reuse_flagged"] for p in payloads] == [False, True, True, True]
    assert first_id in payloads[-1]["reuse_of"]


async def test_a_guru_never_receives_another_gurus_download_url(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    evidence_id = (await upload(service, plan)).json()["evidence_id"]
    another = await service.approved_plan(period_id=period)  # same school, same assessor
    response = await service.client.get(f"/v1/evidence/{evidence_id}/download", headers=service.guru(another.teacher_nip))
    assert response.status_code == 403 and "http" not in response.text
    for who in (service.guru(plan.teacher_nip), service.assessor(), bearer("dinas", region=plan.region)):
        link = await service.client.get(f"/v1/evidence/{evidence_id}/download", headers=who)
        assert link.status_code == 200 and link.json()["expires_in_s"] == 300


async def test_only_the_assessor_verifies_or_rejects_with_a_reason(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    evidence_id = (await upload(service, plan)).json()["evidence_id"]
    path = f"/v1/evidence/{evidence_id}/review"
    not_assessors = {
        "the owner": service.guru(plan.teacher_nip),
        "another principal": bearer("kepala_sekolah", nip="196601011990031001", npsn=plan.school_npsn),
        "dinas": bearer("dinas", region=plan.region),
    }
    for who, headers in not_assessors.items():
        refused = await service.client.post(path, json={"decision": "verified"}, headers=headers)
        assert refused.status_code == 403, who
        # A PPK role that is not this plan's PPK: bukan_penilai; roles that never review: by role.
        expected = "bukan_penilai" if who == "another principal" else "peran_tidak_diizinkan"
        assert refused.json()["error"]["code"] == expected, who
    no_reason = await service.client.post(path, json={"decision": "rejected", "reason": "  "}, headers=service.assessor())
    assert (no_reason.status_code, no_reason.json()["error"]["code"]) == (422, "alasan_wajib_diisi")
    bad = await service.client.post(path, json={"decision": "maybe"}, headers=service.assessor())
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "input_tidak_valid")
    assert await service.outbox_events() == ["evidence.evidence.uploaded"]

    rejected = await service.client.post(
        path, json={"decision": "rejected", "reason": "Sertifikat tidak terbaca, unggah ulang."},
        headers=service.assessor(),
    )
    assert rejected.status_code == 200, rejected.text
    # The teacher sees the state and the reason.
    mine = (await service.client.get(f"/v1/evidence/{evidence_id}", headers=service.guru(plan.teacher_nip))).json()
    assert (mine["status"], mine["review_reason"], mine["reviewed_by"]) == (
        "rejected", "Sertifikat tidak terbaca, unggah ulang.", plan.assessor_nip)
    verified = await service.client.post(path, json={"decision": "verified"}, headers=service.assessor())
    assert verified.json()["status"] == "verified"
    again = await service.client.post(path, json={"decision": "verified"}, headers=service.assessor())
    assert again.status_code == 200
    # Every transition is an event; repeating a verdict is not a transition.
    assert await service.outbox_events() == [
        "evidence.evidence.uploaded", "evidence.evidence.rejected", "evidence.evidence.verified"]


async def test_deletion_removes_the_object_and_publishes_the_fact(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    evidence_id = (await upload(service, plan)).json()["evidence_id"]
    stranger = await service.client.delete(f"/v1/evidence/{evidence_id}", headers=service.guru(service.new_plan().teacher_nip))
    assert stranger.status_code == 403
    assert len(service.objects()) == 1
    gone = await service.client.delete(f"/v1/evidence/{evidence_id}", headers=service.guru(plan.teacher_nip))
    assert gone.status_code == 204
    assert service.objects() == [] and await service.evidence_rows() == []
    assert await service.outbox_events() == ["evidence.evidence.uploaded", "evidence.evidence.deleted"]
    missing = await service.client.delete(f"/v1/evidence/{evidence_id}", headers=service.guru(plan.teacher_nip))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "bukti_tidak_ditemukan")
    # The same file may be uploaded again after its withdrawal (no duplicate left behind).
    assert (await upload(service, plan)).status_code == 201


def finalized(plan) -> AssessmentFinalized:
    person = PersonRef(nip=plan.teacher_nip, name="Guru", role="guru")
    assessor = PersonRef(nip=plan.assessor_nip, name="Kepala", role="kepala_sekolah")
    return AssessmentFinalized(
        assessment_id=str(uuid.uuid4()), assessment_version=1, plan_id=plan.plan_id,
        period_id=plan.period_id, year=2026, month_start=1, month_end=6,
        school_npsn=plan.school_npsn, teacher=person, assessor=assessor, assessor_unit="SD",
        rating_hasil_kerja="SESUAI", rating_perilaku_kerja="SESUAI", predikat="BAIK",
        predikat_code=2, finalized_at=datetime.now(timezone.utc),
    )


async def test_evidence_is_read_only_once_the_assessment_is_final(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    evidence_id = (await upload(service, plan)).json()["evidence_id"]
    event = finalized(plan)
    await service.publish(event, plan.region)
    await service.publish(event, plan.region)  # a replay under another message id

    async def known():
        async with service.runtime.session_factory() as session:
            return (await session.exec(select(FinalizedAssessment))).all()

    assert len(await wait_for(known)) == 1
    guru = service.guru(plan.teacher_nip)
    refusals = [
        await upload(service, plan, item_id="pk-2"),
        await service.client.delete(f"/v1/evidence/{evidence_id}", headers=guru),
        await service.client.post(f"/v1/evidence/{evidence_id}/review", json={"decision": "verified"}, headers=service.assessor()),
        await service.start_upload(plan, CERT, guru),
    ]
    for response in refusals:
        assert (response.status_code, response.json()["error"]["code"]) == (409, "penilaian_sudah_final"), response.text
    assert len(service.objects()) == 1 and len(await service.evidence_rows()) == 1
    assert await service.outbox_events() == ["evidence.evidence.uploaded"]
    # Still readable.
    assert (await service.client.get(f"/v1/evidence/{evidence_id}/download", headers=guru)).status_code == 200


async def test_period_events_out_of_order_and_the_execution_window(service):
    today = jakarta_today()
    period_id = f"2026-S1-{uuid.uuid4().hex[:6]}"
    plan = await service.approved_plan(period_id=period_id)
    # A schedule change arrives before the period itself: it waits, then applies.
    change = PeriodScheduleChanged(
        period_id=period_id,
        stages=[PeriodStage(stage="pelaksanaan", starts_on=today - timedelta(days=30), ends_on=today - timedelta(days=1))],
        changed_by="dinas", changed_at=datetime.now(timezone.utc),
    )
    await service.publish(change, "000000")
    # PeriodOpened happened first (its window includes today) but is delivered second.
    opened = make_envelope(service.period_opened(period_id), producer="planning", region="000000",
                           correlation_id="c", occurred_at=datetime.now(timezone.utc) - timedelta(hours=1))
    await service.publish(None, "000000", envelope=opened)

    async def window():
        async with service.runtime.session_factory() as session:
            row = await session.get(PeriodView, period_id)
        return row if row and row.execution_ends_on == today - timedelta(days=1) else None

    await wait_for(window)
    closed_window = await upload(service, plan)
    assert (closed_window.status_code, closed_window.json()["error"]["code"]) == (409, "masa_pelaksanaan_ditutup")

    # The Dinas extends the window: uploads are accepted again.
    await service.publish(PeriodScheduleChanged(
        period_id=period_id,
        stages=[PeriodStage(stage="pelaksanaan", starts_on=today - timedelta(days=30), ends_on=today + timedelta(days=7))],
        changed_by="dinas", changed_at=datetime.now(timezone.utc) + timedelta(seconds=1),
    ), "000000")

    async def extended():
        async with service.runtime.session_factory() as session:
            row = await session.get(PeriodView, period_id)
        return row.execution_ends_on == today + timedelta(days=7)

    await wait_for(extended)
    assert (await upload(service, plan)).status_code == 201

    # Closed: nothing more.
    await service.publish(PeriodClosed(period_id=period_id, closed_at=datetime.now(timezone.utc)), "000000")

    async def closed():
        async with service.runtime.session_factory() as session:
            return (await session.get(PeriodView, period_id)).closed_at is not None

    await wait_for(closed)
    after = await upload(service, plan, item_id="pk-2")
    assert (after.status_code, after.json()["error"]["code"]) == (409, "masa_pelaksanaan_ditutup")
    assert len(service.objects()) == 1


async def test_a_stage_start_fills_the_window_of_a_period_published_without_stages(service):
    from kinerja_shared.events import PeriodOpened, PeriodStageStarted

    today = jakarta_today()
    period_id = f"2026-S1-{uuid.uuid4().hex[:6]}"
    plan = await service.approved_plan(period_id=period_id)
    # The stage start arrives first and waits for its period.
    started = PeriodStageStarted(
        period_id=period_id, stage="pelaksanaan", starts_on=today - timedelta(days=40),
        ends_on=today - timedelta(days=2), started_at=datetime.now(timezone.utc),
    )
    await service.publish(started, "000000")
    await service.publish(PeriodOpened(  # a producer before stages: no window of its own
        period_id=period_id, policy="pmm-2024", year=today.year, semester=1, name="Semester",
        starts_on=today - timedelta(days=60), ends_on=today + timedelta(days=60), month_start=1, month_end=6,
    ), "000000")

    async def window():
        async with service.runtime.session_factory() as session:
            row = await session.get(PeriodView, period_id)
        return row if row and row.execution_ends_on else None

    row = await wait_for(window)
    assert (row.execution_starts_on, row.execution_ends_on) == (today - timedelta(days=40), today - timedelta(days=2))
    refused = await upload(service, plan)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "masa_pelaksanaan_ditutup")
    assert service.objects() == [] and await service.evidence_rows() == []
