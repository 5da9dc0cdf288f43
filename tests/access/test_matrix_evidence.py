"""The access matrix of the evidence service (see access_matrix.py), on SQLite and SeaweedFS: the
period and school A's first guru's approved plan arrive as planning's events; the guru uploads a
bukti dukung, starts a resumable upload, writes a daily report and a competency record."""

from __future__ import annotations

import hashlib
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nats

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "services" / "evidence" / "tests"))

from access_matrix import GURU_RECORD, SCHOOL_A, Ctx, Op, check, publish  # noqa: E402
from evidence_samples import PDF  # noqa: E402

from kinerja_evidence.bootstrap import build  # noqa: E402
from kinerja_evidence.domain.model import today_in_jakarta  # noqa: E402
from kinerja_evidence.settings import Settings  # noqa: E402
from kinerja_shared.events import MonthlyTarget, PeriodOpened, PeriodStage, PlanApproved, PlanItem  # noqa: E402
from kinerja_shared.messaging.streams import ensure_streams  # noqa: E402
from kinerja_shared.testing.http import bearer, running_app  # noqa: E402
from kinerja_shared.testing.servers import nats_client_options  # noqa: E402
from kinerja_shared.testing.wait import eventually  # noqa: E402

A, D = SCHOOL_A.npsn, SCHOOL_A.region
GURU, KS = SCHOOL_A.gurus[0], SCHOOL_A.ks
GURU_AUTH = bearer("guru", nip=GURU, npsn=A)
SISTEM = bearer("sistem")
ITEMS = [
    PlanItem(item_id="pk-1", kind="praktik_kinerja", code="D.1", title="Kualitas pembelajaran"),
    PlanItem(item_id="kom-1", kind="pengembangan_kompetensi", code="pelatihan", title="Pelatihan", points=32),
]


def period_opened(period_id: str) -> PeriodOpened:
    today = today_in_jakarta()
    start, end = today - timedelta(days=20), today + timedelta(days=40)
    return PeriodOpened(
        period_id=period_id, policy="pmm-2024", year=today.year, semester=1, name="Semester uji",
        starts_on=start - timedelta(days=30), ends_on=end + timedelta(days=30), month_start=1, month_end=6,
        stages=[
            PeriodStage(stage="perencanaan", starts_on=start - timedelta(days=30), ends_on=start - timedelta(days=1)),
            PeriodStage(stage="pelaksanaan", starts_on=start, ends_on=end),
            PeriodStage(stage="penilaian", starts_on=end + timedelta(days=1), ends_on=end + timedelta(days=30)),
        ],
    )


def plan_approved(plan_id: str, period_id: str) -> PlanApproved:
    month = today_in_jakarta().strftime("%Y-%m")
    return PlanApproved(
        plan_id=plan_id, period_id=period_id, teacher_nip=GURU, school_npsn=A, assessor_nip=KS,
        indicators=["D.1"], revision=1, approved_by=KS, approved_at=datetime.now(timezone.utc), items=ITEMS,
        monthly_targets=[MonthlyTarget(target_id="t-1", month=month, item_id="pk-1", description="Modul ajar")],
        competency_points=32,
    )


def unique_pdf() -> bytes:
    """A PDF no upload has had (the same bytes for the same item are refused as a duplicate)."""
    return PDF.replace(b"\n", f"\n%{uuid.uuid4().hex}\n".encode(), 1)


def upload_form(c, h):
    return c.client.post("/v1/evidence", data={"plan_id": c.plan, "item_id": "pk-1"},
                         files={"file": ("laporan.pdf", unique_pdf(), "application/pdf")}, headers=h)


def start_upload(c, h, data: bytes = PDF):
    return c.client.post("/v1/uploads", headers=h, json={
        "plan_id": c.plan, "item_id": "pk-1", "file_name": "laporan.pdf", "size_bytes": len(data),
        "content_type": "application/pdf", "sha256": hashlib.sha256(data).hexdigest()})


async def _created(response, key: str) -> str:
    assert response.status_code == 201, response.text
    return response.json()[key]


async def seed(client, js) -> Ctx:
    ctx = Ctx(client)
    period_id, plan_id = str(uuid.uuid4()), str(uuid.uuid4())
    await publish(js, period_opened(period_id), region="000000")
    await publish(js, plan_approved(plan_id, period_id), region=D)

    async def known():
        r = await client.get("/v1/evidence", params={"plan_id": plan_id}, headers=GURU_AUTH)
        return r.status_code == 200 or None

    await eventually(known, what="the plan known to evidence")
    ctx.ids.update(period=period_id, plan=plan_id)
    ctx.ids["evidence"] = await _created(await upload_form(ctx, GURU_AUTH), "evidence_id")
    ctx.ids["certificate"] = await _created(await upload_form(ctx, GURU_AUTH), "evidence_id")
    ctx.ids["upload"] = await _created(await start_upload(ctx, GURU_AUTH), "upload_id")
    ctx.ids["report"] = await _created(await client.post("/v1/daily-reports", headers=GURU_AUTH, json={
        "plan_id": plan_id, "target_id": "t-1", "report_date": str(today_in_jakarta()),
        "activity": "Menyusun modul ajar", "evidence_ids": []}), "report_id")
    ctx.ids["record"] = await _created(await client.post("/v1/competency-records", headers=GURU_AUTH, json={
        "plan_id": plan_id, "item_id": "kom-1", "activity_type": "pelatihan", "title": "Pelatihan asesmen",
        "points": 20, "evidence_id": ctx.certificate}), "record_id")
    return ctx


async def fresh_evidence(ctx, principal) -> str:
    return await _created(await upload_form(ctx, GURU_AUTH), "evidence_id")


async def fresh_upload(ctx, principal) -> str:
    return await _created(await start_upload(ctx, GURU_AUTH, unique_pdf()), "upload_id")


def _ids(key: str, field: str):
    return lambda body: {item[field] for item in body[key]}


def get(path, **params):
    return lambda c, h: c.client.get(path.format(**c.ids), params={k: v.format(**c.ids) for k, v in params.items()},
                                     headers=h)


def send(method, path, body=None):
    return lambda c, h: c.client.request(method, path.format(**c.ids), headers=h,
                                         json=body(c) if callable(body) else body)


OPS = [
    Op("GET /v1/evidence", get("/v1/evidence", plan_id="{plan}"), GURU_RECORD,
       listing=_ids("evidence", "evidence_id"), target=lambda c: c.evidence),
    Op("GET /v1/evidence/{evidence_id}", get("/v1/evidence/{evidence}"), GURU_RECORD),
    Op("GET /v1/evidence/{evidence_id}/download", get("/v1/evidence/{evidence}/download"), GURU_RECORD),
    Op("GET /v1/uploads/{upload_id}", get("/v1/uploads/{upload}"), GURU_RECORD),
    Op("GET /v1/daily-reports", get("/v1/daily-reports", plan_id="{plan}"), GURU_RECORD,
       listing=_ids("reports", "report_id"), target=lambda c: c.report),
    Op("GET /v1/competency-records", get("/v1/competency-records", plan_id="{plan}"), GURU_RECORD,
       listing=_ids("records", "record_id"), target=lambda c: c.record),
    Op("POST /v1/evidence", upload_form, GURU_RECORD),
    Op("POST /v1/uploads", start_upload, GURU_RECORD),
    Op("PUT /v1/uploads/{upload_id}/parts/{part_number}", lambda c, h: c.client.put(
        f"/v1/uploads/{c.upload}/parts/1", content=PDF,
        headers={**h, "X-Part-SHA256": hashlib.sha256(PDF).hexdigest()}), GURU_RECORD),
    Op("POST /v1/uploads/{upload_id}/complete", send("POST", "/v1/uploads/{upload}/complete"), GURU_RECORD),
    Op("POST /v1/daily-reports", send("POST", "/v1/daily-reports", lambda c: {
        "plan_id": c.plan, "target_id": "t-1", "report_date": str(today_in_jakarta()),
        "activity": "Praktik disiplin positif", "evidence_ids": []}), GURU_RECORD),
    Op("POST /v1/daily-reports/review", send("POST", "/v1/daily-reports/review", lambda c: {
        "plan_id": c.plan, "decision": "needs_fix", "note": "Lampirkan foto", "report_ids": [c.report]}),
       GURU_RECORD),
    Op("PUT /v1/daily-reports/{report_id}", send("PUT", "/v1/daily-reports/{report}", {
        "activity": "Menyusun modul ajar, dengan foto", "evidence_ids": []}), GURU_RECORD),
    Op("POST /v1/competency-records", send("POST", "/v1/competency-records", lambda c: {
        "plan_id": c.plan, "item_id": "kom-1", "activity_type": "pelatihan", "title": "Pelatihan kedua",
        "points": 10, "evidence_id": c.certificate}), GURU_RECORD),
    Op("POST /v1/competency-records/{record_id}/review", send(
        "POST", "/v1/competency-records/{record}/review", {"decision": "verified"}), GURU_RECORD),
    Op("POST /v1/evidence/{evidence_id}/review", send(
        "POST", "/v1/evidence/{evidence}/review", {"decision": "verified"}), GURU_RECORD),
    Op("DELETE /v1/uploads/{upload_id}", lambda c, h: c.client.delete(
        f"/v1/uploads/{c.fresh or c.upload}", headers=h), GURU_RECORD, fresh=fresh_upload),
    Op("DELETE /v1/evidence/{evidence_id}", lambda c, h: c.client.delete(
        f"/v1/evidence/{c.fresh or c.evidence}", headers=h), GURU_RECORD, fresh=fresh_evidence),
]


async def test_evidence_access_matrix(nats_factory, s3_endpoint, tmp_path):
    nats_server = nats_factory().start()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'evidence.db'}", nats_url=nats_server.url,
        s3_endpoint=s3_endpoint.endpoint, s3_access_key=s3_endpoint.access_key,
        s3_secret_key=s3_endpoint.secret_key, s3_secure=False,
        s3_bucket=f"kinerja-matriks-{uuid.uuid4().hex[:12]}", evidence_max_bytes=256 * 1024,
        upload_part_size_bytes=5 * 1024 * 1024, consumer_backoff_base_s=0.05, outbox_poll_interval_s=0.1,
    )
    nc = await nats.connect(**nats_client_options(nats_server.url))
    try:
        js = nc.jetstream()
        await ensure_streams(js, settings)
        runtime, app = build(settings)
        async with running_app(app) as client:
            async def ready():
                return (await client.get("/health/ready")).status_code == 200 or None

            await eventually(ready, what="evidence ready")
            ctx = await seed(client, js)
            await check("evidence", OPS, ctx)
    finally:
        await nc.close()
