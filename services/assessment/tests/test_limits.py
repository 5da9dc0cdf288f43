"""Pagination is bounded (issue 11), on SQLite and PostgreSQL: an offset past 64-bit integers
was a 500 (SQLite OverflowError, PostgreSQL out of range); now 422 naming the parameter."""

from __future__ import annotations

from kinerja_shared.testing.http import bearer

from assessment_harness import NPSN, REGION

DINAS = bearer("dinas", region=REGION)


async def test_offsets_and_limits_are_bounded(service):
    _, client, _ = service
    for path, params, field in (
        ("/v1/assessments", {"offset": 10**19}, "query.offset"),
        ("/v1/assessments", {"offset": 1_000_001}, "query.offset"),
        ("/v1/assessments", {"limit": 1001}, "query.limit"),
        ("/v1/recaps", {"period_id": "p", "level": "school", "code": NPSN, "offset": 10**19}, "query.offset"),
        ("/v1/assessments/x/workbench", {"notes_offset": 10**19}, "query.notes_offset"),
    ):
        r = await client.get(path, params=params, headers=DINAS)
        assert r.status_code == 422, (path, params, r.text)
        assert r.json()["error"]["code"] == "input_tidak_valid"
        assert [d["field"] for d in r.json()["error"]["details"]] == [field]
    r = await client.get("/v1/assessments", params={"offset": 1_000_000}, headers=DINAS)
    assert r.status_code == 200, r.text


async def test_text_fields_are_bounded_and_long_path_ids_are_no_500(service):
    _, client, _ = service
    r = await client.put("/v1/assessments/x/ratings", headers=DINAS, json={
        "rating_hasil_kerja": "SESUAI", "rating_perilaku_kerja": "SESUAI", "reason": "r" * 2001})
    assert r.status_code == 422 and [d["field"] for d in r.json()["error"]["details"]] == ["body.reason"]
    r = await client.put("/v1/assessments/x/observation/scores", headers=DINAS,
                         json={"scores": [{"behaviour": "b", "level": 1, "evidence_notes": "n" * 10_001}]})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body.scores"
    r = await client.post("/v1/periods/p/extensions", headers=DINAS, json={"until": "2026-07-01", "npsn": "1" * 9})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body.npsn"
    for method, path, body in (
        ("PUT", f"/v1/organisations/{'9' * 500}/predikat", {"period_id": "p", "predikat": "BAIK"}),
        ("POST", f"/v1/periods/{'p' * 500}/extensions", {"until": "2026-07-01", "reason": "r"}),
        ("POST", f"/v1/assessments/{'a' * 500}/objections", {"reason": "r"}),
    ):
        r = await client.request(method, path, json=body, headers=DINAS)
        assert r.status_code < 500, (path[:60], r.text[:300])
