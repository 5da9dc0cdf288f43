"""Request bodies bounded at the edge (issue 11), on SQLite and PostgreSQL: a number past the
integer column, an id past its column, each 422 naming the field instead of reaching the
database."""

from __future__ import annotations

from kinerja_shared.testing.http import bearer


async def test_competency_and_report_fields_are_bounded(service):
    guru = bearer("guru", nip="198503122010012001", npsn=service.school_npsn)
    record = {"plan_id": "p", "activity_type": "pelatihan", "title": "Pelatihan", "points": 16, "evidence_id": "e"}
    for change, field in (({"points": 10**12}, "body.points"), ({"evidence_id": "e" * 65}, "body.evidence_id"),
                          ({"activity_type": "a" * 33}, "body.activity_type")):
        r = await service.client.post("/v1/competency-records", json={**record, **change}, headers=guru)
        assert r.status_code == 422, r.text[:300]
        assert [d["field"] for d in r.json()["error"]["details"]] == [field]
    report = {"plan_id": "p", "target_id": "t", "report_date": "2026-02-02", "activity": "a", "evidence_ids": ["x" * 65]}
    r = await service.client.post("/v1/daily-reports", json=report, headers=guru)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body.evidence_ids"
