"""The access policy in the evidence service (issue 11): a dinas or operator_dinas token without
a region claim is refused (it read every teacher's bukti, reports and points in the country),
a province claim covers its districts and no other province, the services' own identity reads
everywhere; every operation declares its action. Real NATS, S3 and both databases."""

from __future__ import annotations

import sys
from pathlib import Path

from kinerja_shared import access
from kinerja_shared.testing.http import bearer

sys.path.insert(0, str(Path(__file__).parent))

import evidence_samples as samples  # noqa: E402


def reads(plan_id: str, evidence_id: str) -> list[tuple[str, dict]]:
    return [
        ("/v1/evidence", {"plan_id": plan_id}),
        (f"/v1/evidence/{evidence_id}", {}),
        (f"/v1/evidence/{evidence_id}/download", {}),
        ("/v1/daily-reports", {"plan_id": plan_id}),
        ("/v1/competency-records", {"plan_id": plan_id}),
    ]


async def test_a_dinas_token_without_region_is_refused_never_national(service):
    plan = await service.approved_plan()
    created = await service.upload(plan.plan_id, samples.png(), name="foto.png", headers=service.guru(plan.teacher_nip))
    assert created.status_code == 201, created.text
    evidence_id = created.json()["evidence_id"]
    province = plan.region[:2] + "0000"
    other_province = "35" + plan.region[2:]

    for path, params in reads(plan.plan_id, evidence_id):
        for who in (bearer("dinas"), bearer("operator_dinas"), bearer("dinas", nip="196001011985031001")):
            r = await service.client.get(path, params=params, headers=who)
            assert (r.status_code, r.json()["error"]["code"]) == (403, "cakupan_tidak_ada"), (path, r.text)
        for who in (bearer("dinas", region=other_province), bearer("operator_dinas", region="350000")):
            r = await service.client.get(path, params=params, headers=who)
            assert (r.status_code, r.json()["error"]["code"]) == (403, "akses_ditolak"), (path, r.text)
        for who in (bearer("dinas", region=province), bearer("operator_dinas", region=plan.region), bearer("sistem")):
            r = await service.client.get(path, params=params, headers=who)
            assert r.status_code == 200, (path, r.text)
    # Roles that never read a teacher's bukti (an operator sekolah) are refused by role.
    r = await service.client.get("/v1/evidence", params={"plan_id": plan.plan_id},
                                 headers=bearer("operator_sekolah", npsn=service.school_npsn))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "peran_tidak_diizinkan")


async def test_every_operation_declares_its_action(service):
    document = (await service.client.get("/openapi.json")).json()
    declared = {f"{method.upper()} {path}": op.get(access.OPENAPI_KEY)
                for path, item in document["paths"].items() if path.startswith("/v1/")
                for method, op in item.items()}
    assert [op for op, action in declared.items() if action is None] == []
    assert all(action.startswith("evidence.") and action in access.RULES for action in declared.values())
