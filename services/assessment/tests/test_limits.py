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
