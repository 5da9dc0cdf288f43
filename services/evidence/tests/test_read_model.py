"""The read model of plans, fed by real PlanSubmitted / PlanApproved / PlanReturned events on
JetStream: late, duplicated and out-of-order events end in the right state."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kinerja_shared.testing.wait import eventually


async def test_out_of_order_and_duplicate_plan_events_end_in_the_latest_state(service):
    plan = service.new_plan()
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    submitted1 = service.submitted(plan, 1, t0)
    returned1 = service.returned(plan, 1, t0 + timedelta(minutes=10))
    submitted2 = service.submitted(plan, 2, t0 + timedelta(minutes=20))
    approved2 = service.approved(plan, 2, t0 + timedelta(minutes=30))

    # The approval arrives first; then the older events, late.
    approved_env = await service.publish(approved2, plan.region)
    view = await service.wait_plan_status(plan.plan_id, "approved", revision=2)
    assert view.assessor_nip == plan.assessor_nip
    for contract in (returned1, submitted1, submitted2):
        await service.publish(contract, plan.region)
    # The same approval again under another message id (a replay): the inbox absorbs it.
    await service.publish(None, plan.region, msg_id=f"replay-{approved_env.event_id}", envelope=approved_env)

    marker = service.new_plan()
    await service.publish(service.approved(marker, 1, t0), marker.region)
    await service.wait_plan_status(marker.plan_id, "approved")  # everything before it is applied
    view = await service.plan_view(plan.plan_id)
    assert (view.status, view.revision) == ("approved", 2)
    assert view.region == plan.region and view.school_npsn == plan.school_npsn

    # The upload follows the read model: the agreed plan accepts bukti dukung.
    response = await service.upload(plan.plan_id, b"%PDF-1.4\nisi\n%%EOF\n", headers=service.guru(plan.teacher_nip))
    assert response.status_code == 201, response.text


async def test_a_returned_plan_is_not_uploadable_and_a_later_approval_makes_it_so(service):
    plan = service.new_plan()
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    # Returned before its submission arrives: the row is created from the return alone
    # (which carries no assessor), then the late submission fills the assessor in.
    await service.publish(service.returned(plan, 1, t0 + timedelta(minutes=5)), plan.region)
    view = await service.wait_plan_status(plan.plan_id, "returned")
    assert view.assessor_nip is None
    await service.publish(service.submitted(plan, 1, t0), plan.region)

    async def assessor_known():
        v = await service.plan_view(plan.plan_id)
        return v if v.assessor_nip else None

    view = await eventually(assessor_known)
    assert (view.status, view.assessor_nip) == ("returned", plan.assessor_nip)

    guru = service.guru(plan.teacher_nip)
    response = await service.upload(plan.plan_id, b"%PDF-1.4\n%%EOF\n", headers=guru)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "rencana_belum_disepakati"

    await service.publish(service.submitted(plan, 2, t0 + timedelta(minutes=10)), plan.region)
    await service.publish(service.approved(plan, 2, t0 + timedelta(minutes=15)), plan.region)
    await service.wait_plan_status(plan.plan_id, "approved", revision=2)
    response = await service.upload(plan.plan_id, b"%PDF-1.4\n%%EOF\n", headers=guru)
    assert response.status_code == 201, response.text


async def test_same_revision_events_are_ordered_by_when_they_happened(service):
    """Whether planning bumps the revision on return or on resubmission, the later event of a
    revision wins."""
    plan = service.new_plan()
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    await service.publish(service.approved(plan, 3, t0 + timedelta(minutes=2)), plan.region)
    await service.wait_plan_status(plan.plan_id, "approved", revision=3)
    await service.publish(service.submitted(plan, 3, t0 + timedelta(minutes=1)), plan.region)
    marker = service.new_plan()
    await service.publish(service.approved(marker, 1, t0), marker.region)
    await service.wait_plan_status(marker.plan_id, "approved")
    assert (await service.plan_view(plan.plan_id)).status == "approved"



async def test_plan_items_and_targets_follow_the_latest_revision(service):
    from kinerja_shared.events import PlanItem
    from sqlmodel import select

    from kinerja_evidence.adapters.tables import MonthlyTargetView, PlanItemView

    plan = service.new_plan()
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    old_items = list(plan.items)
    plan.items = [PlanItem(item_id="pk-9", kind="praktik_kinerja", code="D.3", title="Kepemimpinan")]
    await service.publish(service.approved(plan, 2, t0 + timedelta(minutes=30)), plan.region)
    await service.wait_plan_status(plan.plan_id, "approved", revision=2)
    plan.items = old_items  # revision 1, late: must not bring its items back
    await service.publish(service.submitted(plan, 1, t0), plan.region)
    marker = service.new_plan()
    await service.publish(service.approved(marker, 1, t0), marker.region)
    await service.wait_plan_status(marker.plan_id, "approved")

    async with service.runtime.session_factory() as session:
        items = (await session.exec(select(PlanItemView).where(PlanItemView.plan_id == plan.plan_id))).all()
        targets = (await session.exec(select(MonthlyTargetView).where(MonthlyTargetView.plan_id == plan.plan_id))).all()
    assert [i.item_id for i in items] == ["pk-9"]
    assert [t.target_id for t in targets] == ["t-1"]
    view = await service.plan_view(plan.plan_id)
    assert (view.competency_points, view.policy) == (32, "pmm-2024")

    # Evidence attaches to the current items only.
    guru = service.guru(plan.teacher_nip)
    gone = await service.client.post("/v1/evidence", data={"plan_id": plan.plan_id, "item_id": "pk-1"},
                                     files={"file": ("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}, headers=guru)
    assert (gone.status_code, gone.json()["error"]["code"]) == (422, "butir_rencana_tidak_ditemukan")
    ok = await service.client.post("/v1/evidence", data={"plan_id": plan.plan_id, "item_id": "pk-9"},
                                   files={"file": ("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}, headers=guru)
    assert ok.status_code == 201, ok.text
