"""Periods through the HTTP API, against real NATS JetStream and a real database."""

from __future__ import annotations

from kinerja_shared.testing.http import bearer

from planning_harness import dinas


async def test_create_open_close_and_read_a_period(planning):
    created = await planning.client.post(
        "/v1/periods", json={"policy": "pmm-2024", "year": 2026, "semester": 1}, headers=dinas()
    )
    assert created.status_code == 201, created.text
    period = created.json()
    assert period == {
        "period_id": period["period_id"], "policy": "pmm-2024", "year": 2026, "semester": 1,
        "name": "Semester 1 2026", "starts_on": "2026-01-01", "ends_on": "2026-06-30",
        "month_start": 1, "month_end": 6, "status": "scheduled",
    }
    second = await planning.client.post(
        "/v1/periods", json={"policy": "pmm-2024", "year": 2026, "semester": 2},
        headers=bearer("operator_dinas"),
    )
    assert second.status_code == 201
    assert (second.json()["starts_on"], second.json()["ends_on"], second.json()["month_start"]) == ("2026-07-01", "2026-12-31", 7)
    assert await planning.count_outbox() == 0  # creating a period publishes nothing

    pid = period["period_id"]
    opened = await planning.client.post(f"/v1/periods/{pid}/open", headers=dinas("327100"))
    assert opened.status_code == 200 and opened.json()["status"] == "open"
    [(subject, envelope, _)] = await planning.events("planning.period.opened", period_id=pid)
    assert subject == "kinerja.planning.period.opened.320000.327100"  # the caller's region
    assert envelope["payload"]["starts_on"] == "2026-01-01" and envelope["payload"]["month_end"] == 6
    # Opening again changes nothing and publishes nothing more.
    again = await planning.client.post(f"/v1/periods/{pid}/open", headers=dinas("327100"))
    assert again.status_code == 200 and again.json()["status"] == "open"
    assert await planning.count_outbox() == 1

    # A province-wide token (no region) publishes on the "000000" region.
    other = second.json()["period_id"]
    assert (await planning.client.post(f"/v1/periods/{other}/open", headers=dinas())).status_code == 200
    [(subject, _, _)] = await planning.events("planning.period.opened", period_id=other)
    assert subject == "kinerja.planning.period.opened.000000.000000"

    closed = await planning.client.post(f"/v1/periods/{pid}/close", headers=dinas())
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    reopen = await planning.client.post(f"/v1/periods/{pid}/open", headers=dinas())
    assert reopen.status_code == 409 and reopen.json()["error"]["code"] == "status_periode_tidak_sesuai"

    guru = bearer("guru", nip="198503122010012001", npsn="20212345")
    listed = await planning.client.get("/v1/periods", headers=guru)
    assert listed.status_code == 200
    assert {(p["semester"], p["status"]) for p in listed.json()["periods"]} == {(1, "closed"), (2, "open")}
    one = await planning.client.get(f"/v1/periods/{pid}", headers=guru)
    assert one.status_code == 200 and one.json()["status"] == "closed"
    await planning.all_outbox_sent()


async def test_bad_period_requests_change_nothing(planning):
    base = {"policy": "pmm-2024", "year": 2026, "semester": 1}
    assert (await planning.client.post("/v1/periods", json=base, headers=dinas())).status_code == 201
    before = await planning.counts()

    cases = [
        ({**base, "policy": "kurikulum-lama"}, dinas(), 422, "kebijakan_tidak_dikenal"),
        ({**base, "semester": 3}, dinas(), 422, "semester_tidak_valid"),
        ({"policy": "pmm-2024", "year": 2026}, dinas(), 422, "semester_tidak_valid"),
        ({**base, "year": 1900}, dinas(), 422, "tahun_tidak_valid"),
        ({**base, "year": "tahun ini"}, dinas(), 422, "input_tidak_valid"),
        (base, dinas(), 409, "periode_sudah_ada"),
        ({**base, "semester": 2}, bearer("kepala_sekolah", nip="197204151998022001", npsn="20212345"), 403, "peran_tidak_diizinkan"),
        ({**base, "semester": 2}, bearer("operator_sekolah", npsn="20212345"), 403, "peran_tidak_diizinkan"),
    ]
    for body, headers, status, code in cases:
        response = await planning.client.post("/v1/periods", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"] and error["message_en"], error

    missing = "00000000-0000-0000-0000-000000000000"
    for path in (f"/v1/periods/{missing}", f"/v1/periods/{missing}/open", f"/v1/periods/{missing}/close"):
        method = planning.client.get if path.endswith(missing) else planning.client.post
        response = await method(path, headers=dinas())
        assert response.status_code == 404 and response.json()["error"]["code"] == "periode_tidak_ditemukan"

    pid = (await planning.client.get("/v1/periods", headers=dinas())).json()["periods"][0]["period_id"]
    guru = bearer("guru", nip="198503122010012001", npsn="20212345")
    refused = await planning.client.post(f"/v1/periods/{pid}/open", headers=guru)
    assert refused.status_code == 403
    not_open = await planning.client.post(f"/v1/periods/{pid}/close", headers=dinas())
    assert not_open.status_code == 409 and not_open.json()["error"]["code"] == "status_periode_tidak_sesuai"
    assert (await planning.client.get(f"/v1/periods/{pid}", headers=dinas())).json()["status"] == "scheduled"
    assert await planning.counts() == before
