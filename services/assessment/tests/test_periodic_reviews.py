"""Periodic reviews under ruang-gtk-2025 (one annual period reviewed monthly or quarterly) and
the annual predikat that follows from the annual assessment; real NATS JetStream, both
databases; refusals change nothing."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from kinerja_shared.errors import AppError
from kinerja_shared.testing.http import bearer

from assessment_harness import (
    GURU, KS_AUTH, NPSN, approved, assessment_for, open_assessments, outbox, period, publish,
    rate_and_finalize, snapshot,
)
from kinerja_assessment.domain import reviews


def test_review_keys():
    today = date(2026, 6, 10)
    assert reviews.parse_review("2026-03", 2026, 1, 12, today) == "2026-03"
    assert reviews.parse_review("2026-Q2", 2026, 1, 12, today) == "2026-Q2"
    for key in ("2026-07", "2026-Q3", "2025-12", "2026-13", "Q1", 202603, None):
        with pytest.raises(AppError) as exc:
            reviews.parse_review(key, 2026, 1, 12, today)
        assert exc.value.code == "peninjauan_tidak_valid"
    with pytest.raises(AppError) as exc:
        reviews.ensure_policy_has_reviews(False, "pmm-2024")
    assert exc.value.code == "peninjauan_berkala_tidak_berlaku"


async def test_periodic_reviews_feed_the_annual_assessment(service):
    runtime, client, js = service
    pmm_period, [semester] = await open_assessments(runtime, client, js, GURU)
    annual_period, plan_id = str(uuid.uuid4()), str(uuid.uuid4())
    await publish(js, period(annual_period, policy="ruang-gtk-2025", semester=None))
    await publish(js, approved(plan_id, annual_period))
    a = await assessment_for(client, plan_id)
    url = f"/v1/assessments/{a['assessment_id']}/reviews"
    for key in ("2026-01", "2026-02", "2026-Q2"):
        r = await client.post(url, headers=KS_AUTH, json={"review": key, "progress": "SESUAI", "feedback": f"Tinjauan {key}"})
        assert r.status_code == 201, r.text
    assert [x["review"] for x in r.json()["reviews"]] == ["2026-01", "2026-02", "2026-Q2"]

    before = await snapshot(runtime)
    for target, body, status, code in [
        (url, {"review": "2026-08", "progress": "SESUAI", "feedback": "x"}, 422, "peninjauan_tidak_valid"),
        (url, {"review": "2026-01", "progress": "SESUAI", "feedback": "x"}, 409, "peninjauan_sudah_dicatat"),
        (url, {"review": "2026-03", "progress": "SESUAI", "feedback": " "}, 422, "alasan_wajib_diisi"),
        (url, {"review": "2026-03", "progress": "BAGUS", "feedback": "x"}, 422, "rating_tidak_valid"),
        (f"/v1/assessments/{semester['assessment_id']}/reviews", {"review": "2026-03", "progress": "SESUAI", "feedback": "x"},
         409, "peninjauan_berkala_tidak_berlaku"),
    ]:
        r = await client.post(target, headers=KS_AUTH, json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    r = await client.post(url, headers=bearer("guru", nip=GURU, npsn=NPSN),
                          json={"review": "2026-03", "progress": "DI_ATAS", "feedback": "x"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "peran_tidak_diizinkan")
    assert await snapshot(runtime) == before

    # The workbench shows the reviews; in December the annual assessment is rated and finalized.
    r = await client.get(f"/v1/assessments/{a['assessment_id']}/workbench", headers=KS_AUTH)
    assert len(r.json()["periodic_reviews"]) == 3
    runtime.clock.set(datetime(2026, 12, 3, 3, 0, tzinfo=timezone.utc))
    final = await rate_and_finalize(client, a, "DI_ATAS", "SESUAI")
    assert (final["predikat"], final["angka_kredit"]) == ("BAIK", "25.00")  # Ahli Muda, Baik, 12 months
    r = await client.get(f"/v1/people/{GURU}/annual/2026", headers=KS_AUTH)
    annual = r.json()
    assert (annual["policy"], annual["rule"], annual["annual_predikat"]) == ("ruang-gtk-2025", "tahunan", "BAIK")
    assert [len(p["periodic_reviews"]) for p in annual["periods"]] == [3]
    types = [m.event_type for m in await outbox(runtime)]
    assert types.count("assessment.assessment.periodic_review_recorded") == 3
