"""Plans (SKP) through the HTTP API, against real NATS JetStream and a real database: the
approval flow with its events, who may do what, and every refused request changing nothing."""

from __future__ import annotations

from kinerja_shared.testing.http import bearer

from planning_harness import SampleSchool, dinas, new_nip

PLAN_KEYS = {
    "plan_id", "period_id", "teacher_nip", "teacher_name", "school_npsn", "assessor_nip",
    "indicators", "summary", "status", "status_label", "revision", "return_reason", "history",
}


async def test_submit_return_resubmit_approve_with_events(planning):
    school, period = await planning.school_with_open_period()
    plan = await planning.submit(school, period["period_id"], indicators=["A.1", "D.1", "A.1"])
    assert set(plan) == PLAN_KEYS
    assert (plan["teacher_nip"], plan["teacher_name"], plan["school_npsn"], plan["assessor_nip"]) == (
        school.guru_nips[0], "Guru 0", school.npsn, school.ks_nip,
    )
    assert (plan["status"], plan["status_label"], plan["revision"], plan["indicators"]) == (
        "submitted", "Diajukan", 1, ["A.1", "D.1"],
    )
    assert [(h["action"], h["by"]) for h in plan["history"]] == [("submitted", school.guru_nips[0])]
    pid = plan["plan_id"]

    returned = await planning.client.post(
        f"/v1/plans/{pid}/return", json={"reason": "Selaraskan dengan prioritas D.1"}, headers=school.ks()
    )
    assert returned.status_code == 200, returned.text
    assert (returned.json()["status"], returned.json()["status_label"], returned.json()["return_reason"]) == (
        "returned", "Dikembalikan", "Selaraskan dengan prioritas D.1",
    )
    resubmitted = await planning.client.post(
        f"/v1/plans/{pid}/resubmit", json={"indicators": ["D.1"], "summary": "Revisi"}, headers=school.guru(0)
    )
    assert resubmitted.status_code == 200, resubmitted.text
    assert (resubmitted.json()["status"], resubmitted.json()["revision"], resubmitted.json()["return_reason"]) == (
        "submitted", 2, None,
    )
    approved = await planning.client.post(f"/v1/plans/{pid}/approve", headers=school.ks())
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["status_label"], body["revision"], body["indicators"]) == ("approved", "Disepakati", 2, ["D.1"])
    assert [(h["action"], h["by"], h["reason"]) for h in body["history"]] == [
        ("submitted", school.guru_nips[0], None),
        ("returned", school.ks_nip, "Selaraskan dengan prioritas D.1"),
        ("resubmitted", school.guru_nips[0], None),
        ("approved", school.ks_nip, None),
    ]

    # The events, on the school's region, in the order they happened.
    submitted = await planning.events("planning.plan.submitted", n=2, plan_id=pid)
    assert [e["payload"]["revision"] for _, e, _ in submitted] == [1, 2]
    assert submitted[0][1]["payload"]["indicators"] == ["A.1", "D.1"]
    assert submitted[0][1]["payload"]["assessor_nip"] == school.ks_nip
    [(_, returned_event, _)] = await planning.events("planning.plan.returned", plan_id=pid)
    assert returned_event["payload"]["reason"] == "Selaraskan dengan prioritas D.1"
    assert returned_event["payload"]["revision"] == 1 and returned_event["payload"]["returned_by"] == school.ks_nip
    [(subject, approved_event, headers)] = await planning.events("planning.plan.approved", plan_id=pid)
    assert subject == f"kinerja.planning.plan.approved.{school.region[:2]}0000.{school.region}"
    assert approved_event["payload"]["approved_by"] == school.ks_nip
    assert approved_event["payload"]["revision"] == 2 and approved_event["payload"]["indicators"] == ["D.1"]
    assert headers["Nats-Msg-Id"] == approved_event["event_id"]
    assert approved_event["producer"] == "planning"
    await planning.all_outbox_sent()

    # An approved plan is final in this thin path.
    for path, body_json, headers in (
        (f"/v1/plans/{pid}/approve", None, school.ks()),
        (f"/v1/plans/{pid}/return", {"reason": "terlambat"}, school.ks()),
        (f"/v1/plans/{pid}/resubmit", {"indicators": ["A.1"]}, school.guru(0)),
    ):
        response = await planning.client.post(path, json=body_json, headers=headers)
        assert response.status_code == 409 and response.json()["error"]["code"] == "status_rencana_tidak_sesuai"
    assert (await planning.client.get(f"/v1/plans/{pid}", headers=dinas())).json()["history"] == body["history"]


async def test_refused_submissions_change_nothing(planning):
    school, period = await planning.school_with_open_period()
    scheduled = await planning.client.post(
        "/v1/periods", json={"policy": "pmm-2024", "year": 2027, "semester": 1}, headers=dinas()
    )
    closed = await planning.open_period(school.region, year=2025, semester=2)
    assert (await planning.client.post(f"/v1/periods/{closed['period_id']}/close", headers=dinas())).status_code == 200
    await planning.submit(school, period["period_id"], i=1)
    before = await planning.counts()
    outsider = new_nip()

    def body(**overrides):
        return {"period_id": period["period_id"], "indicators": ["A.1"], "summary": "x", **overrides}

    cases = [
        (body(period_id=scheduled.json()["period_id"]), school.guru(0), 409, "periode_belum_dibuka"),
        (body(period_id=closed["period_id"]), school.guru(0), 409, "periode_sudah_ditutup"),
        (body(period_id="tidak-ada"), school.guru(0), 404, "periode_tidak_ditemukan"),
        (body(indicators=[]), school.guru(0), 422, "indikator_wajib_diisi"),
        (body(indicators=["A.1", "B.7"]), school.guru(0), 422, "indikator_tidak_dikenal"),
        (body(summary="x" * 5001), school.guru(0), 422, "ringkasan_terlalu_panjang"),
        (body(), school.guru(1), 409, "rencana_sudah_ada"),
        (body(), bearer("guru", nip=outsider, npsn=school.npsn), 403, "guru_tidak_terdaftar"),
        (body(), bearer("guru", npsn=school.npsn), 403, "guru_tidak_terdaftar"),
        (body(), school.ks(), 403, "peran_tidak_diizinkan"),
        ({"indicators": ["A.1"]}, school.guru(0), 422, "input_tidak_valid"),
    ]
    for request_body, headers, status, code in cases:
        response = await planning.client.post("/v1/plans", json=request_body, headers=headers)
        assert response.status_code == status, (code, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"] and error["message_en"]
    assert await planning.counts() == before


async def test_who_may_approve_return_resubmit_and_read(planning):
    school, period = await planning.school_with_open_period()
    plan = await planning.submit(school, period["period_id"], i=0)
    pid = plan["plan_id"]
    other_school = SampleSchool()
    assert (await planning.import_csv(other_school.csv())).status_code == 201
    before = await planning.counts()

    not_assessors = [
        school.guru(0),  # the owner
        school.guru(1),  # a colleague
        other_school.ks(),  # another school's kepala sekolah
        bearer("pengawas", nip=school.pengawas_nip),  # the KS's assessor, not the guru's
        dinas(),
        bearer("guru", nip=school.ks_nip, npsn=school.npsn),  # the right NIP in the wrong role
    ]
    for headers in not_assessors:
        for path, body in ((f"/v1/plans/{pid}/approve", None), (f"/v1/plans/{pid}/return", {"reason": "x"})):
            response = await planning.client.post(path, json=body, headers=headers)
            assert response.status_code == 403 and response.json()["error"]["code"] == "bukan_penilai", response.text

    for body in (None, {}, {"reason": "   "}):
        response = await planning.client.post(f"/v1/plans/{pid}/return", json=body, headers=school.ks())
        assert response.status_code == 422 and response.json()["error"]["code"] == "alasan_wajib_diisi"
    not_returned = await planning.client.post(
        f"/v1/plans/{pid}/resubmit", json={"indicators": ["A.2"]}, headers=school.guru(0)
    )
    assert not_returned.status_code == 409 and not_returned.json()["error"]["code"] == "status_rencana_tidak_sesuai"
    for path in ("approve", "return", "resubmit"):
        response = await planning.client.post(f"/v1/plans/tidak-ada/{path}", json={"reason": "x", "indicators": ["A.1"]}, headers=school.ks())
        assert response.status_code == 404 and response.json()["error"]["code"] == "rencana_tidak_ditemukan"
    assert await planning.counts() == before
    assert len(await planning.outbox()) == before["OutboxMessage"]

    # Returned: only the owner resubmits.
    assert (await planning.client.post(f"/v1/plans/{pid}/return", json={"reason": "revisi"}, headers=school.ks())).status_code == 200
    for headers in (school.guru(1), school.ks(), dinas()):
        response = await planning.client.post(f"/v1/plans/{pid}/resubmit", json={"indicators": ["A.2"]}, headers=headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == "akses_ditolak"
    bad = await planning.client.post(f"/v1/plans/{pid}/resubmit", json={"indicators": ["Z.1"]}, headers=school.guru(0))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "indikator_tidak_dikenal"
    current = (await planning.client.get(f"/v1/plans/{pid}", headers=school.guru(0))).json()
    assert (current["status"], current["revision"], current["indicators"]) == ("returned", 1, ["A.1", "D.1"])

    # Reading one plan: the owner, the school's kepala sekolah, dinas; nobody else, and no data leaks.
    for headers in (school.guru(0), school.ks(), dinas(), bearer("operator_dinas")):
        assert (await planning.client.get(f"/v1/plans/{pid}", headers=headers)).status_code == 200
    for headers in (school.guru(1), other_school.ks(), other_school.guru(0), bearer("pengawas", nip=school.pengawas_nip)):
        response = await planning.client.get(f"/v1/plans/{pid}", headers=headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == "akses_ditolak"
        assert school.guru_nips[0] not in response.text and "plan_id" not in response.text
    missing = await planning.client.get("/v1/plans/tidak-ada", headers=dinas())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "rencana_tidak_ditemukan"


async def test_a_closed_period_freezes_its_plans(planning):
    school, period = await planning.school_with_open_period()
    plan = await planning.submit(school, period["period_id"])
    assert (await planning.client.post(f"/v1/periods/{period['period_id']}/close", headers=dinas())).status_code == 200
    before = await planning.counts()
    approve = await planning.client.post(f"/v1/plans/{plan['plan_id']}/approve", headers=school.ks())
    assert approve.status_code == 409 and approve.json()["error"]["code"] == "periode_sudah_ditutup"
    assert await planning.counts() == before
    assert (await planning.client.get(f"/v1/plans/{plan['plan_id']}", headers=dinas())).json()["status"] == "submitted"


async def test_listing_plans_is_scoped_to_the_caller(planning):
    school, period = await planning.school_with_open_period()
    other_school = SampleSchool()
    assert (await planning.import_csv(other_school.csv())).status_code == 201
    mine = await planning.submit(school, period["period_id"], i=0)
    colleague = await planning.submit(school, period["period_id"], i=1)
    elsewhere = await planning.submit(other_school, period["period_id"], i=0)

    async def ids(headers, **params) -> set[str]:
        response = await planning.client.get("/v1/plans", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {p["plan_id"] for p in response.json()["plans"]}

    assert await ids(school.guru(0)) == {mine["plan_id"]}
    # Filters narrow, never widen: a guru asking for a colleague's plans sees none.
    assert await ids(school.guru(0), teacher_nip=school.guru_nips[1]) == set()
    assert await ids(school.ks()) == {mine["plan_id"], colleague["plan_id"]}
    assert await ids(school.ks(), npsn=other_school.npsn) == set()
    assert await ids(school.ks(), teacher_nip=school.guru_nips[1]) == {colleague["plan_id"]}
    assert await ids(dinas()) == {mine["plan_id"], colleague["plan_id"], elsewhere["plan_id"]}
    assert await ids(dinas(), npsn=other_school.npsn) == {elsewhere["plan_id"]}
    assert await ids(dinas(), period_id="lain") == set()
    assert await ids(dinas(), period_id=period["period_id"], teacher_nip=school.guru_nips[0]) == {mine["plan_id"]}
    refused = await planning.client.get("/v1/plans", headers=bearer("pengawas", nip=school.pengawas_nip))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "peran_tidak_diizinkan"
