"""Periods through the HTTP API, against real NATS JetStream and a real database: made from a
policy, windows moved by the Dinas within its bounds, opened, announced and closed by the
clock with their events, and bad requests changing nothing."""

from __future__ import annotations

from datetime import datetime, timezone

from kinerja_shared.testing.http import bearer

from kinerja_planning.service_layer import periods as period_use_cases

from planning_harness import CALENDAR_REGION, province_dinas, sistem


async def test_create_from_a_policy_and_read(planning):
    created = await planning.client.post("/v1/periods", json={"policy": "pmm-2024", "year": 2026, "semester": 1}, headers=sistem())
    assert created.status_code == 201, created.text
    period = created.json()
    assert {k: period[k] for k in ("policy", "name", "starts_on", "ends_on", "status", "planning_deadline",
                                   "evidence_required", "competency_points")} == {
        "policy": "pmm-2024", "name": "Semester 1 2026", "starts_on": "2026-01-01", "ends_on": "2026-06-30",
        "status": "scheduled", "planning_deadline": "2026-03-31", "evidence_required": True,
        "competency_points": {"min": 32, "max": 128, "max_per_activity": 32}}
    assert [(s["stage"], s["starts_on"], s["ends_on"]) for s in period["stages"]] == [
        ("perencanaan", "2026-01-01", "2026-01-31"), ("pelaksanaan", "2026-02-01", "2026-05-31"),
        ("penilaian", "2026-06-01", "2026-06-30")]
    annual = await planning.client.post(
        "/v1/periods", json={"policy": "ruang-gtk-2025", "year": 2027, "periodic_review": "bulanan"},
        headers=bearer("operator_dinas", region=CALENDAR_REGION))
    assert annual.status_code == 201, annual.text
    assert (annual.json()["name"], annual.json()["ends_on"], annual.json()["periodic_review"],
            annual.json()["evidence_required"]) == ("Tahunan 2027", "2027-12-31", "bulanan", False)
    assert await planning.count_outbox() == 0  # creating a period publishes nothing
    listed = await planning.client.get("/v1/periods", headers=bearer("guru", nip="198503122010012001", npsn="20212345"))
    assert {p["name"] for p in listed.json()["periods"]} == {"Semester 1 2026", "Tahunan 2027"}
    policies = (await planning.client.get("/v1/policies", headers=sistem())).json()
    assert {p["code"] for p in policies["policies"]} >= {"pmm-2024", "ruang-gtk-2025"}
    assert any(i["code"] == "D.1.2" and i["parent"] == "D.1" for i in policies["indicators"])


async def test_the_clock_opens_announces_stages_and_closes_with_events(planning):
    clock = planning.runtime.clock
    clock.set(datetime(2025, 12, 31, 16, 59, 59, tzinfo=timezone.utc))  # 23:59:59 WIB, 31 Dec 2025
    pid = (await planning.client.post("/v1/periods", json={"policy": "pmm-2024", "year": 2026, "semester": 1},
                                      headers=sistem())).json()["period_id"]
    assert await period_use_cases.tick(planning.runtime.uow, clock) == []
    clock.set(datetime(2025, 12, 31, 17, 0, 0, tzinfo=timezone.utc))  # 00:00 WIB, 1 Jan 2026
    assert await period_use_cases.tick(planning.runtime.uow, clock) == [(pid, "open"), (pid, "stage:perencanaan")]
    assert await period_use_cases.tick(planning.runtime.uow, clock) == []  # once only
    period = (await planning.client.get(f"/v1/periods/{pid}", headers=sistem())).json()
    assert (period["status"], period["current_stage"]) == ("open", "perencanaan")
    [(subject, opened, _)] = await planning.events("planning.period.opened", period_id=pid)
    assert subject == "kinerja.planning.period.opened.000000.000000"
    assert [s["stage"] for s in opened["payload"]["stages"]] == ["perencanaan", "pelaksanaan", "penilaian"]
    assert opened["payload"]["competency_points_max_per_activity"] == 32

    # One tick after "downtime" catches up with the rest of the semester, in order.
    clock.set(datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc))
    assert await period_use_cases.tick(planning.runtime.uow, clock) == [
        (pid, "stage:pelaksanaan"), (pid, "stage:penilaian"), (pid, "close")]
    started = await planning.events("planning.period.stage_started", n=3, period_id=pid)
    assert [e["payload"]["stage"] for _, e, _ in started] == ["perencanaan", "pelaksanaan", "penilaian"]
    await planning.events("planning.period.closed", period_id=pid)
    assert (await planning.client.get(f"/v1/periods/{pid}", headers=sistem())).json()["status"] == "closed"


async def test_the_dinas_moves_windows_within_the_policy(planning):
    period = await planning.open_period()
    pid = period["period_id"]
    moved = await planning.client.put(
        f"/v1/periods/{pid}/schedule",
        json={"stages": {"perencanaan": {"starts_on": "2026-01-01", "ends_on": "2026-02-07"},
                         "pelaksanaan": {"starts_on": "2026-02-08", "ends_on": "2026-05-31"}},
              "late_planning_deadline": "2026-04-15"},
        headers=province_dinas())
    assert moved.status_code == 200, moved.text
    assert moved.json()["planning_deadline"] == "2026-04-15"
    [(_, changed, _)] = await planning.events("planning.period.schedule_changed", period_id=pid)
    assert changed["payload"]["late_planning_deadline"] == "2026-04-15"

    before = await planning.counts()
    stored = (await planning.client.get(f"/v1/periods/{pid}", headers=sistem())).json()
    for body, code in (
        ({"stages": {"penilaian": {"starts_on": "2026-06-01", "ends_on": "2026-07-10"}}}, "jadwal_periode_tidak_valid"),
        ({"stages": {"pelaksanaan": {"starts_on": "2026-01-20", "ends_on": "2026-05-31"}}}, "jadwal_periode_tidak_valid"),
        ({"late_planning_deadline": "2026-06-15"}, "jadwal_periode_tidak_valid"),
        ({"stages": {"pelaksanaan": {"starts_on": "besok", "ends_on": "2026-05-31"}}}, "input_tidak_valid"),
    ):
        response = await planning.client.put(f"/v1/periods/{pid}/schedule", json=body, headers=sistem())
        assert response.status_code == 422 and response.json()["error"]["code"] == code, response.text
        assert response.json()["error"]["message"]
    refused = await planning.client.put(f"/v1/periods/{pid}/schedule", json={}, headers=bearer("kepala_sekolah", nip="197204151998022001", npsn="20212345"))
    assert refused.status_code == 403
    assert await planning.counts() == before
    assert (await planning.client.get(f"/v1/periods/{pid}", headers=sistem())).json() == stored


async def test_bad_period_requests_change_nothing(planning):
    await planning.client.post("/v1/periods", json={"policy": "pmm-2024", "year": 2026, "semester": 1}, headers=sistem())
    before = await planning.counts()
    cases = [
        ({"policy": "pmm-2099", "year": 2026, "semester": 1}, sistem(), 422, "kebijakan_tidak_dikenal"),
        ({"policy": "pmm-2024", "year": 2026, "semester": 3}, sistem(), 422, "semester_tidak_valid"),
        ({"policy": "pmm-2024", "year": 1999, "semester": 1}, sistem(), 422, "tahun_tidak_valid"),
        ({"policy": "pmm-2024", "year": 2026, "semester": 1}, sistem(), 409, "periode_sudah_ada"),
        # One annual period over the same months as Semester 1 2026: overlapping periods are refused.
        ({"policy": "ruang-gtk-2025", "year": 2026}, sistem(), 409, "periode_tumpang_tindih"),
        ({"policy": "pmm-2024", "year": 2026, "semester": 2,
          "stages": {"perencanaan": {"starts_on": "2026-06-20", "ends_on": "2026-07-31"}}}, sistem(), 422, "jadwal_periode_tidak_valid"),
        ({"policy": "pmm-2024", "year": 2026, "semester": 2,
          "stages": {"pelaksanaan": {"starts_on": "2026-07-15", "ends_on": "2026-11-30"}}}, sistem(), 422, "jadwal_periode_tidak_valid"),
        ({"policy": "pmm-2024", "year": "dua ribu"}, sistem(), 422, "input_tidak_valid"),
        ({"policy": "pmm-2024", "year": 2026, "semester": 2}, bearer("kepala_sekolah", nip="197204151998022001", npsn="20212345"), 403, "peran_tidak_diizinkan"),
    ]
    for body, headers, status, code in cases:
        response = await planning.client.post("/v1/periods", json=body, headers=headers)
        assert response.status_code == status, (code, response.text)
        assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    for path in ("/v1/periods/tidak-ada/open", "/v1/periods/tidak-ada/close"):
        response = await planning.client.post(path, headers=sistem())
        assert response.status_code == 404 and response.json()["error"]["code"] == "periode_tidak_ditemukan"
    assert await planning.counts() == before
