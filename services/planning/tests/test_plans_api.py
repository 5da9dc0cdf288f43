"""Plans (SKP) through the HTTP API, against real NATS JetStream and a real database: the
five steps, the approval flow with its events, principals' plans, who may do what, the
queries, and every refused request changing nothing."""

from __future__ import annotations

from datetime import datetime, timezone

from kinerja_shared.testing.http import bearer

from planning_harness import EXPECTATIONS, SampleSchool, complete_steps, dinas, new_nip, sistem

PLAN_KEYS = {
    "plan_id", "period_id", "kind", "teacher_nip", "teacher_name", "school_npsn", "assessor_nip",
    "status", "status_label", "revision", "indicators", "praktik_kinerja", "pengembangan_kompetensi",
    "competency_points", "tugas_tambahan", "perilaku_kerja", "rangkuman", "target_bulanan",
    "return_reason", "history",
}


async def test_draft_step_by_step_submit_return_resubmit_agree_with_events(planning):
    school, period = await planning.school_with_open_period()
    pid_period = period["period_id"]
    # The teacher's Praktik Kinerja options come from the school's priorities.
    options = await planning.client.get(f"/v1/schools/{school.npsn}/priorities/{pid_period}", headers=school.guru(0))
    assert options.status_code == 200, options.text
    assert options.json()["priorities"] == ["A.1", "D.1"]
    assert [o["code"] for o in options.json()["options"]] == ["A.1", "D.1", "D.1.1", "D.1.2", "D.1.3"]
    elsewhere = await planning.client.get(f"/v1/schools/{school.npsn}/priorities/{pid_period}",
                                          headers=bearer("guru", nip=new_nip(), npsn="29999999"))
    assert elsewhere.status_code == 403
    created = await planning.client.post("/v1/plans", json={"period_id": pid_period}, headers=school.guru(0))
    assert created.status_code == 201, created.text
    plan = created.json()
    assert set(plan) == PLAN_KEYS
    assert (plan["status"], plan["status_label"], plan["revision"], plan["kind"]) == ("draft", "Draf", 0, "guru")
    assert (plan["teacher_nip"], plan["school_npsn"], plan["assessor_nip"]) == (school.guru_nips[0], school.npsn, school.ks_nip)
    pid = plan["plan_id"]
    for step, value in complete_steps().items():
        saved = await planning.client.put(f"/v1/plans/{pid}/steps/{step}", json=value, headers=school.guru(0))
        assert saved.status_code == 200, (step, saved.text)
    body = saved.json()
    assert body["competency_points"] == 32 and body["indicators"] == ["D.1"]
    assert [t["month"] for t in body["target_bulanan"]] == ["2026-02", "2026-03", "2026-04", "2026-05"]

    submitted = await planning.client.post(f"/v1/plans/{pid}/submit", headers=school.guru(0))
    assert submitted.status_code == 200, submitted.text
    assert (submitted.json()["status"], submitted.json()["revision"]) == ("submitted", 1)

    returned = await planning.client.post(f"/v1/plans/{pid}/return", json={"reason": "Tambahkan target Mei"}, headers=school.ks())
    assert returned.status_code == 200, returned.text
    assert (returned.json()["status_label"], returned.json()["return_reason"]) == ("Dikembalikan", "Tambahkan target Mei")
    fixed = await planning.client.put(f"/v1/plans/{pid}/steps/rangkuman", json="Revisi", headers=school.guru(0))
    assert fixed.status_code == 200, fixed.text
    resubmitted = await planning.client.post(f"/v1/plans/{pid}/submit", headers=school.guru(0))
    assert (resubmitted.json()["status"], resubmitted.json()["revision"], resubmitted.json()["return_reason"]) == ("submitted", 2, None)

    approved = await planning.approve(school, pid)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["status_label"], body["perilaku_kerja"]) == ("approved", "Disepakati", EXPECTATIONS)
    actions = [(h["action"], h["by"]) for h in body["history"] if not h["action"].startswith("saved:")]
    assert actions == [("created", school.guru_nips[0]), ("submitted", school.guru_nips[0]),
                       ("returned", school.ks_nip), ("resubmitted", school.guru_nips[0]), ("approved", school.ks_nip)]

    # The events: each change, with who and when, items and monthly targets for downstream services.
    drafts = await planning.events("planning.plan.draft_saved", n=7, plan_id=pid)
    assert [e["payload"]["step"] for _, e, _ in drafts][:2] == ["dibuat", "praktik_kinerja"]
    submitted_events = await planning.events("planning.plan.submitted", n=2, plan_id=pid)
    assert [e["payload"]["revision"] for _, e, _ in submitted_events] == [1, 2]
    [(subject, approved_event, headers)] = await planning.events("planning.plan.approved", plan_id=pid)
    assert subject == f"kinerja.planning.plan.approved.{school.region[:2]}0000.{school.region}"
    payload = approved_event["payload"]
    assert payload["approved_by"] == school.ks_nip and payload["policy"] == "pmm-2024"
    assert payload["competency_points"] == 32 and payload["plan_kind"] == "guru"
    assert [(i["item_id"], i["kind"], i["code"]) for i in payload["items"]] == [
        ("pk1", "praktik_kinerja", "D.1"), ("c1", "pengembangan_kompetensi", "komunitas_belajar"),
        ("c2", "pengembangan_kompetensi", "pelatihan"), ("t1", "tugas_tambahan", "tugas_tambahan")]
    assert [t["month"] for t in payload["monthly_targets"]] == ["2026-02", "2026-03", "2026-04", "2026-05"]
    assert headers["Nats-Msg-Id"] == approved_event["event_id"]
    [(_, returned_event, _)] = await planning.events("planning.plan.returned", plan_id=pid)
    assert returned_event["payload"]["reason"] == "Tambahkan target Mei"
    await planning.all_outbox_sent()

    # An agreed plan is the SKP: editing it, resubmitting, agreeing or returning again are refused.
    before = await planning.counts()
    for method, path, json_body, headers, code in (
        ("put", f"/v1/plans/{pid}/steps/rangkuman", "baru", school.guru(0), "rencana_sudah_disepakati"),
        ("post", f"/v1/plans/{pid}/submit", None, school.guru(0), "rencana_sudah_disepakati"),
        ("post", f"/v1/plans/{pid}/approve", {"perilaku_kerja": EXPECTATIONS}, school.ks(), "status_rencana_tidak_sesuai"),
        ("post", f"/v1/plans/{pid}/return", {"reason": "x"}, school.ks(), "status_rencana_tidak_sesuai"),
    ):
        response = await getattr(planning.client, method)(path, json=json_body, headers=headers)
        assert response.status_code == 409 and response.json()["error"]["code"] == code, response.text
    assert await planning.counts() == before
    assert (await planning.client.get(f"/v1/plans/{pid}", headers=sistem())).json()["rangkuman"] == "Revisi"


async def test_bad_plans_get_a_clear_error_and_change_nothing(planning):
    school, period = await planning.school_with_open_period()
    pid_period = period["period_id"]
    draft = await planning.draft(school, pid_period, i=0, pengembangan_kompetensi=[
        {"activity_type": "pelatihan", "title": "Satu-satunya", "points": 8}])
    pid = draft["plan_id"]
    before = await planning.counts()
    stored = (await planning.client.get(f"/v1/plans/{pid}", headers=school.guru(0))).json()

    step_cases = [
        ("praktik_kinerja", [{"indicator": "A.2", "focus_behaviours": ["Soal kontekstual dan penalaran"]}], "indikator_bukan_prioritas"),
        ("praktik_kinerja", [{"indicator": "Z.9", "focus_behaviours": ["x"]}], "indikator_tidak_dikenal"),
        ("praktik_kinerja", "bukan daftar", "format_tidak_valid"),
        ("pengembangan_kompetensi", [{"activity_type": "pelatihan", "title": "x", "points": 33}], "poin_kegiatan_di_luar_batas"),
        ("pengembangan_kompetensi", [{"activity_type": "pesta", "title": "x", "points": 3}], "jenis_kegiatan_tidak_dikenal"),
        ("target_bulanan", [{"month": "2026-08", "description": "x"}], "target_di_luar_periode"),
        ("target_bulanan", [{"month": "2026-03", "item_id": "tidak-ada", "description": "x"}], "isian_rencana_tidak_ada"),
        ("perilaku_kerja", {"sopan": "x"}, "nilai_berakhlak_tidak_dikenal"),
        ("rangkuman", "x" * 5001, "ringkasan_terlalu_panjang"),
    ]
    for step, value, code in step_cases:
        response = await planning.client.put(f"/v1/plans/{pid}/steps/{step}", json=value, headers=school.guru(0))
        assert response.status_code == 422, (code, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"] and error["details"]["problems"][0]["step"] == step
    unknown_step = await planning.client.put(f"/v1/plans/{pid}/steps/langkah-6", json=[], headers=school.guru(0))
    assert unknown_step.status_code == 404 and unknown_step.json()["error"]["code"] == "langkah_tidak_dikenal"

    # Submission checks the whole plan and reports every problem at once: points below 32.
    refused = await planning.client.post(f"/v1/plans/{pid}/submit", headers=school.guru(0))
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "rencana_belum_lengkap"
    assert [p["code"] for p in refused.json()["error"]["details"]["problems"]] == ["poin_kompetensi_di_luar_batas"]
    assert "antara 32 dan 128" in refused.json()["error"]["message"]

    # Starting a plan: a period not open, no such period, twice, not in the roster.
    scheduled = await planning.client.post("/v1/periods", json={"policy": "pmm-2024", "year": 2027, "semester": 1}, headers=sistem())
    outsider = new_nip()
    cases = [
        ({"period_id": scheduled.json()["period_id"]}, school.guru(1), 409, "periode_belum_dibuka"),
        ({"period_id": "tidak-ada"}, school.guru(1), 404, "periode_tidak_ditemukan"),
        ({"period_id": pid_period}, school.guru(0), 409, "rencana_sudah_ada"),
        ({"period_id": pid_period}, bearer("guru", nip=outsider, npsn=school.npsn), 403, "tidak_terdaftar_di_roster"),
        ({"period_id": pid_period}, bearer("guru", nip=school.ks_nip, npsn=school.npsn), 403, "tidak_terdaftar_di_roster"),
        ({"period_id": pid_period}, sistem(), 403, "peran_tidak_diizinkan"),
        ({"period_id": pid_period, **complete_steps(indicator="A.2")}, school.guru(1), 422, "indikator_bukan_prioritas"),
        ({}, school.guru(1), 422, "input_tidak_valid"),
    ]
    for request_body, headers, status, code in cases:
        response = await planning.client.post("/v1/plans", json=request_body, headers=headers)
        assert response.status_code == status, (code, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"] and error["message_en"]
    after = await planning.counts()
    assert after == {**before, "Period": before["Period"] + 1}  # only the scheduled period was made
    assert (await planning.client.get(f"/v1/plans/{pid}", headers=school.guru(0))).json() == stored


async def test_the_planning_deadline_is_enforced_in_jakarta_time(planning):
    school, period = await planning.school_with_open_period()
    plan = await planning.draft(school, period["period_id"], i=0)
    # Late plans are allowed until 31 March (pmm-2024): 23:59:59 WIB is in time ...
    planning.runtime.clock.set(datetime(2026, 3, 31, 16, 59, 59, tzinfo=timezone.utc))
    ok = await planning.client.post(f"/v1/plans/{plan['plan_id']}/submit", headers=school.guru(0))
    assert ok.status_code == 200, ok.text
    # ... 00:00:00 WIB on 1 April is not, and the message names the deadline.
    planning.runtime.clock.set(datetime(2026, 3, 31, 17, 0, 0, tzinfo=timezone.utc))
    before = await planning.counts()
    late = await planning.client.post("/v1/plans", json={"period_id": period["period_id"], **complete_steps()},
                                      headers=school.guru(1))
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "batas_perencanaan_terlewat"
    assert "31 Maret 2026 pukul 23.59.59 WIB" in late.json()["error"]["message"]
    assert await planning.counts() == before
    # The kepala sekolah can still agree it during execution, not after.
    assert (await planning.approve(school, plan["plan_id"])).status_code == 200


async def test_a_principals_plan_is_agreed_by_their_pengawas(planning):
    school, period = await planning.school_with_open_period()
    ks_steps = {**complete_steps(indicator="D.3.3"),
                "praktik_kinerja": [{"item_id": "pk1", "indicator": "D.3.3",
                                     "focus_behaviours": ["Supervisi dan umpan balik pembelajaran"]}]}
    created = await planning.client.post("/v1/plans", json={"period_id": period["period_id"], **ks_steps}, headers=school.ks())
    assert created.status_code == 201, created.text
    plan = created.json()
    assert (plan["kind"], plan["assessor_nip"]) == ("kepala_sekolah", school.pengawas_nip)
    not_d3 = await planning.client.put(f"/v1/plans/{plan['plan_id']}/steps/praktik_kinerja",
                                       json=complete_steps()["praktik_kinerja"], headers=school.ks())
    assert not_d3.status_code == 422 and not_d3.json()["error"]["code"] == "indikator_bukan_kepemimpinan"
    assert (await planning.client.post(f"/v1/plans/{plan['plan_id']}/submit", headers=school.ks())).status_code == 200

    pengawas = bearer("pengawas", nip=school.pengawas_nip)
    inbox = await planning.client.get("/v1/plans/inbox", headers=pengawas)
    assert [p["plan_id"] for p in inbox.json()["plans"]] == [plan["plan_id"]]
    # Nobody else agrees it: not the principal themself, not a guru, not the Dinas.
    for headers, code in ((school.ks(), "bukan_penilai"), (school.guru(0), "peran_tidak_diizinkan"),
                          (sistem(), "peran_tidak_diizinkan")):
        response = await planning.approve(school, plan["plan_id"], headers=headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == code
    approved = await planning.approve(school, plan["plan_id"], headers=pengawas)
    assert approved.status_code == 200, approved.text
    [(_, event, _)] = await planning.events("planning.plan.approved", plan_id=plan["plan_id"])
    assert event["payload"]["plan_kind"] == "kepala_sekolah" and event["payload"]["approved_by"] == school.pengawas_nip
    assert (await planning.client.get("/v1/plans/inbox", headers=pengawas)).json()["total"] == 0


async def test_who_may_agree_return_and_read(planning):
    school, period = await planning.school_with_open_period()
    plan = await planning.submit(school, period["period_id"], i=0)
    pid = plan["plan_id"]
    other_school = SampleSchool()
    assert (await planning.import_csv(other_school.csv())).status_code == 201
    before = await planning.counts()
    for headers, code in ((school.guru(0), "peran_tidak_diizinkan"), (school.guru(1), "peran_tidak_diizinkan"),
                          (other_school.ks(), "bukan_penilai"), (bearer("pengawas", nip=school.pengawas_nip), "bukan_penilai"),
                          (dinas(school.region), "peran_tidak_diizinkan"),
                          (bearer("guru", nip=school.ks_nip, npsn=school.npsn), "peran_tidak_diizinkan")):
        for path, body in ((f"/v1/plans/{pid}/approve", {"perilaku_kerja": EXPECTATIONS}), (f"/v1/plans/{pid}/return", {"reason": "x"})):
            response = await planning.client.post(path, json=body, headers=headers)
            assert response.status_code == 403 and response.json()["error"]["code"] == code, response.text
    for body in (None, {}, {"reason": "   "}):
        response = await planning.client.post(f"/v1/plans/{pid}/return", json=body, headers=school.ks())
        assert response.status_code == 422 and response.json()["error"]["code"] == "alasan_wajib_diisi"
    partial = await planning.client.post(f"/v1/plans/{pid}/approve", json={"perilaku_kerja": {"akuntabel": "x"}}, headers=school.ks())
    assert partial.status_code == 422 and partial.json()["error"]["code"] == "ekspektasi_perilaku_belum_lengkap"
    for who, code in ((school.guru(1), "akses_ditolak"), (school.ks(), "akses_ditolak"), (sistem(), "peran_tidak_diizinkan")):
        response = await planning.client.put(f"/v1/plans/{pid}/steps/rangkuman", json="x", headers=who)
        assert response.status_code == 403 and response.json()["error"]["code"] == code
    waiting = await planning.client.put(f"/v1/plans/{pid}/steps/rangkuman", json="x", headers=school.guru(0))
    assert waiting.status_code == 409 and waiting.json()["error"]["code"] == "status_rencana_tidak_sesuai"
    for path in ("approve", "return", "submit"):
        response = await planning.client.post(f"/v1/plans/tidak-ada/{path}", json={"reason": "x"}, headers=school.ks())
        assert response.status_code == 404 and response.json()["error"]["code"] == "rencana_tidak_ditemukan"
    assert await planning.counts() == before

    for headers in (school.guru(0), school.ks(), sistem(), dinas(school.region), bearer("operator_dinas", region=school.region)):
        assert (await planning.client.get(f"/v1/plans/{pid}", headers=headers)).status_code == 200
    for headers in (school.guru(1), other_school.ks(), other_school.guru(0), bearer("pengawas", nip=school.pengawas_nip)):
        response = await planning.client.get(f"/v1/plans/{pid}", headers=headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == "akses_ditolak"
        assert school.guru_nips[0] not in response.text and "plan_id" not in response.text


async def test_a_closed_period_freezes_its_plans(planning):
    school, period = await planning.school_with_open_period()
    plan = await planning.submit(school, period["period_id"])
    assert (await planning.client.post(f"/v1/periods/{period['period_id']}/close", headers=sistem())).status_code == 200
    before = await planning.counts()
    approve = await planning.approve(school, plan["plan_id"])
    assert approve.status_code == 409 and approve.json()["error"]["code"] == "periode_sudah_ditutup"
    assert await planning.counts() == before
    assert (await planning.client.get(f"/v1/plans/{plan['plan_id']}", headers=sistem())).json()["status"] == "submitted"


async def test_queries_lists_inbox_and_completion_paginated(planning):
    school, period = await planning.school_with_open_period()
    pid_period = period["period_id"]
    other_school = SampleSchool(region=school.region)
    assert (await planning.import_csv(other_school.csv())).status_code == 201
    await planning.set_priorities(other_school, pid_period)
    mine = await planning.submit(school, pid_period, i=0)
    colleague = await planning.submit(school, pid_period, i=1)
    elsewhere = await planning.draft(other_school, pid_period, i=0)
    assert (await planning.approve(school, mine["plan_id"])).status_code == 200

    async def ids(headers, **params) -> set[str]:
        response = await planning.client.get("/v1/plans", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {p["plan_id"] for p in response.json()["plans"]}

    assert await ids(school.guru(0)) == {mine["plan_id"]}
    assert await ids(school.guru(0), teacher_nip=school.guru_nips[1]) == set()  # filters never widen
    assert await ids(school.ks()) == {mine["plan_id"], colleague["plan_id"]}
    assert await ids(school.ks(), status="submitted") == {colleague["plan_id"]}
    assert await ids(sistem()) == {mine["plan_id"], colleague["plan_id"], elsewhere["plan_id"]}
    assert await ids(sistem(), npsn=other_school.npsn) == {elsewhere["plan_id"]}
    page1 = (await planning.client.get("/v1/plans", params={"page_size": 2}, headers=sistem())).json()
    page2 = (await planning.client.get("/v1/plans", params={"page_size": 2, "page": 2}, headers=sistem())).json()
    assert (page1["total"], len(page1["plans"]), len(page2["plans"])) == (3, 2, 1)
    assert {p["plan_id"] for p in page1["plans"] + page2["plans"]} == await ids(sistem())
    bad_page = await planning.client.get("/v1/plans", params={"page_size": 1000}, headers=sistem())
    assert bad_page.status_code == 422 and bad_page.json()["error"]["code"] == "input_tidak_valid"
    assert bad_page.json()["error"]["details"][0]["field"] == "query.page_size"

    inbox = (await planning.client.get("/v1/plans/inbox", headers=school.ks())).json()
    assert [p["plan_id"] for p in inbox["plans"]] == [colleague["plan_id"]]
    refused = await planning.client.get("/v1/plans/inbox", headers=school.guru(0))
    assert refused.status_code == 403

    completion = await planning.client.get(f"/v1/completion/schools/{school.npsn}", params={"period_id": pid_period}, headers=school.ks())
    assert completion.status_code == 200, completion.text
    c = completion.json()
    assert (c["teachers"], c["agreed"], c["agreed_by_deadline"], c["submitted"], c["no_plan"]) == (2, 1, 1, 1, 0)
    assert c["planning_deadline"] == "2026-03-31"
    other = await planning.client.get(f"/v1/completion/schools/{school.npsn}", params={"period_id": pid_period}, headers=other_school.ks())
    assert other.status_code == 403
    district = await planning.client.get(f"/v1/completion/districts/{school.region}",
                                         params={"period_id": pid_period, "page_size": 1}, headers=sistem())
    assert district.status_code == 200, district.text
    d = district.json()
    assert (d["schools"], len(d["items"]), d["totals"]["teachers"], d["totals"]["agreed"], d["totals"]["draft"]) == (2, 1, 4, 1, 1)


async def test_bad_priorities_change_nothing(planning):
    school, period = await planning.school_with_open_period()
    pid_period = period["period_id"]
    before = await planning.counts()
    stored = (await planning.client.get(f"/v1/schools/{school.npsn}/priorities/{pid_period}", headers=school.ks())).json()
    path = f"/v1/schools/{school.npsn}/priorities/{pid_period}"
    for body, headers, status, code in (
        ({"results": {"A.1": "BURUK"}, "priorities": ["A.1"]}, school.ks(), 422, "prioritas_tidak_valid"),
        ({"results": {"A.1": "KURANG"}, "priorities": ["D.1"]}, school.ks(), 422, "prioritas_tidak_valid"),
        ({"results": {"Z.1": "KURANG"}, "priorities": ["Z.1"]}, school.ks(), 422, "prioritas_tidak_valid"),
        ({"results": {"A.1": "KURANG"}, "priorities": []}, school.ks(), 422, "prioritas_tidak_valid"),
        ({"results": {"A.1": "KURANG"}, "priorities": ["A.1"]}, school.guru(0), 403, "peran_tidak_diizinkan"),
        ({"results": {"A.1": "KURANG"}, "priorities": ["A.1"]}, dinas(school.region), 403, "peran_tidak_diizinkan"),
    ):
        response = await planning.client.put(path, json=body, headers=headers)
        assert response.status_code == status and response.json()["error"]["code"] == code, response.text
        assert response.json()["error"]["message"]
    missing = await planning.client.put(f"/v1/schools/{school.npsn}/priorities/tidak-ada",
                                        json={"results": {"A.1": "KURANG"}, "priorities": ["A.1"]}, headers=school.ks())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "periode_tidak_ditemukan"
    assert await planning.counts() == before
    assert (await planning.client.get(path, headers=school.ks())).json() == stored
