"""The access policy in ekinerja-sync (issue 11): the scheduled reconciliation's reports are the
caller's region's (every region's were shown to any dinas), a dinas or operator_dinas token
without a region claim is refused (it read every sync record in the country), a school's or a
teacher's log outside the caller's region is refused; every operation declares its action.
Real NATS, the simulator over HTTP, both databases."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from kinerja_shared import access
from kinerja_shared.events import make_envelope
from kinerja_shared.testing.http import bearer
from kinerja_shared.testing.wait import eventually

NPSN, REGION, OTHER_REGION = "20212345", "020500", "030100"


async def publish(js, event, region: str = REGION) -> None:
    envelope = make_envelope(event, producer="assessment", region=region, correlation_id=str(uuid.uuid4()))
    await js.publish(envelope.subject(), envelope.model_dump_json().encode(), headers={"Nats-Msg-Id": envelope.event_id})


async def acknowledged(http, nip: str) -> dict:
    async def check():
        r = await http.get(f"/v1/sync-log/teachers/{nip}", headers=bearer("sistem"))
        records = r.json().get("records", []) if r.status_code == 200 else []
        return records[0] if records and records[0]["status"] == "acknowledged" else None
    return await eventually(check, what=f"{nip} acknowledged")


async def test_scheduled_reconciliation_is_filtered_to_the_callers_region(run_sync, make_finalized, new_nip):
    _, http, js = await run_sync(ekinerja_reconcile_targets=f"2026-1-6@{REGION},2026-1-6@{OTHER_REGION}",
                                 ekinerja_reconcile_interval_s=0.2)
    nip = new_nip()
    await publish(js, make_finalized(nip))
    await acknowledged(http, nip)

    async def reports(auth) -> set[str]:
        r = await http.get("/v1/reconciliation/scheduled", headers=auth)
        assert r.status_code == 200, r.text
        return set(r.json()["reports"])

    both = {f"2026-1-6@{REGION}", f"2026-1-6@{OTHER_REGION}"}

    async def ran():
        return await reports(bearer("sistem")) == both or None
    await eventually(ran, what="both targets reconciled")
    assert await reports(bearer("dinas", region=REGION)) == {f"2026-1-6@{REGION}"}
    assert await reports(bearer("dinas", region="020000")) == {f"2026-1-6@{REGION}"}  # its province
    assert await reports(bearer("operator_dinas", region=OTHER_REGION)) == {f"2026-1-6@{OTHER_REGION}"}
    assert await reports(bearer("dinas", region="020600")) == set()
    r = await http.get("/v1/reconciliation/scheduled", headers=bearer("dinas"))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "cakupan_tidak_ada")


@pytest.fixture
async def sync(run_sync):
    _, http, js = await run_sync()
    return SimpleNamespace(http=http, js=js)


@pytest.mark.parametrize("role", ["dinas", "operator_dinas"])
async def test_a_token_without_region_is_refused_never_national(sync, make_finalized, new_nip, role):
    nip = new_nip()
    await publish(sync.js, make_finalized(nip))
    record = await acknowledged(sync.http, nip)
    no_region = bearer(role)
    for method, path, params in [
        ("GET", f"/v1/sync-log/teachers/{nip}", {}),
        ("GET", f"/v1/sync-log/schools/{NPSN}", {}),
        ("GET", f"/v1/sync-log/districts/{REGION}", {}),
        ("GET", "/v1/sync-records", {}),
        ("GET", "/v1/reconciliation", {"period": "2026-1-6", "region": REGION}),
        ("POST", "/v1/reconciliation", {"period": "2026-1-6", "region": REGION}),
        ("POST", f"/v1/sync-records/{record['key']}/retry", {}),
        ("GET", "/v1/reconciliation/scheduled", {}),
    ]:
        r = await sync.http.request(method, path, params=params, headers=no_region)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "cakupan_tidak_ada"), (path, r.text)

    # A region claim elsewhere: the school's and the teacher's logs are refused, the lists
    # simply do not show them, a reconciliation of another region is refused.
    elsewhere = bearer(role, region=OTHER_REGION)
    for path in (f"/v1/sync-log/teachers/{nip}", f"/v1/sync-log/schools/{NPSN}"):
        r = await sync.http.get(path, headers=elsewhere)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "akses_log_sinkronisasi_ditolak"), r.text
    r = await sync.http.get("/v1/sync-records", headers=elsewhere)
    assert nip not in {x["teacher_nip"] for x in r.json()["records"]}
    r = await sync.http.get("/v1/reconciliation", params={"period": "2026-1-6", "region": REGION}, headers=elsewhere)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "rekonsiliasi_ditolak"), r.text
    r = await sync.http.get(f"/v1/sync-log/teachers/{nip}", headers=bearer(role, region="020000"))
    assert r.status_code == 200 and [x["teacher_nip"] for x in r.json()["records"]] == [nip]


async def test_every_operation_declares_its_action(sync):
    document = (await sync.http.get("/openapi.json")).json()
    declared = {f"{method.upper()} {path}": op.get(access.OPENAPI_KEY)
                for path, item in document["paths"].items() if path.startswith("/v1/")
                for method, op in item.items()}
    assert [op for op, action in declared.items() if action is None] == []
    assert all(action.startswith("ekinerja.") and action in access.RULES for action in declared.values())
