"""Fixtures: the evidence service running in-process against real NATS JetStream, a real
database (SQLite, then PostgreSQL) and a real S3 endpoint (SeaweedFS over HTTP)."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import nats
import pytest
from minio import Minio
from sqlalchemy import func
from sqlmodel import select

import hashlib
from datetime import date

from kinerja_evidence.domain.model import today_in_jakarta as jakarta_today
from kinerja_shared.events import (
    MonthlyTarget,
    PeriodOpened,
    PeriodStage,
    PlanApproved,
    PlanItem,
    PlanReturned,
    PlanSubmitted,
    make_envelope,
)
from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.messaging.streams import ensure_streams
from kinerja_shared.testing.http import bearer, running_app
from kinerja_shared.testing.servers import nats_client_options
from kinerja_shared.testing.wait import eventually as wait_for

from kinerja_evidence.adapters.tables import Evidence, PeriodView, PlanView, UploadPart, UploadSession
from kinerja_evidence.bootstrap import build
from kinerja_evidence.settings import Settings


def new_nip(year: int = 1985) -> str:
    return f"{year}0312201001{random.choice('12')}{random.randint(0, 999):03d}"


def new_npsn() -> str:
    return f"2{random.randint(0, 9999999):07d}"


def new_region() -> str:
    return f"02{random.randint(1, 9999):04d}"




def default_items() -> list[PlanItem]:
    return [
        PlanItem(item_id="pk-1", kind="praktik_kinerja", code="D.1", title="Kualitas pembelajaran",
                 focus_behaviours=["disiplin positif"]),
        PlanItem(item_id="pk-2", kind="praktik_kinerja", code="A.1", title="Kemampuan literasi"),
        PlanItem(item_id="kom-1", kind="pengembangan_kompetensi", code="pelatihan",
                 title="Pelatihan asesmen diagnostik", points=32),
        PlanItem(item_id="tt-1", kind="tugas_tambahan", code="kepala_perpustakaan", title="Kepala perpustakaan"),
    ]


@dataclass
class Plan:
    plan_id: str
    period_id: str
    teacher_nip: str
    school_npsn: str
    assessor_nip: str
    region: str
    items: list[PlanItem] = field(default_factory=default_items)


@dataclass
class EvidenceHarness:
    client: httpx.AsyncClient
    runtime: Any
    settings: Settings
    js: Any
    minio: Minio
    school_npsn: str = field(default_factory=new_npsn)
    region: str = field(default_factory=new_region)
    assessor_nip: str = field(default_factory=lambda: new_nip(1972))

    # -------------------------------------------------------------- planning's events
    def new_plan(self, teacher_nip: str | None = None, period_id: str | None = None) -> Plan:
        return Plan(
            plan_id=str(uuid.uuid4()), period_id=period_id or f"2026-S1-{uuid.uuid4().hex[:6]}",
            teacher_nip=teacher_nip or new_nip(), school_npsn=self.school_npsn,
            assessor_nip=self.assessor_nip, region=self.region,
        )

    async def publish(self, contract, region: str, *, msg_id: str | None = None, envelope=None):
        envelope = envelope or make_envelope(
            contract, producer="planning", region=region, correlation_id=str(uuid.uuid4())
        )
        await self.js.publish(
            envelope.subject(), envelope.model_dump_json().encode(),
            headers={"Nats-Msg-Id": msg_id or envelope.event_id},
        )
        return envelope

    def submitted(self, plan: Plan, revision: int, at: datetime) -> PlanSubmitted:
        return PlanSubmitted(
            plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
            school_npsn=plan.school_npsn, assessor_nip=plan.assessor_nip,
            indicators=["A.1"], revision=revision, submitted_at=at, items=plan.items,
            monthly_targets=self.targets(plan), competency_points=32,
        )

    def approved(self, plan: Plan, revision: int, at: datetime) -> PlanApproved:
        return PlanApproved(
            plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
            school_npsn=plan.school_npsn, assessor_nip=plan.assessor_nip,
            indicators=["A.1"], revision=revision, approved_by=plan.assessor_nip, approved_at=at,
            items=plan.items, monthly_targets=self.targets(plan), competency_points=32,
        )

    def targets(self, plan: Plan) -> list[MonthlyTarget]:
        month = jakarta_today().strftime("%Y-%m")
        return [MonthlyTarget(target_id="t-1", month=month, item_id="pk-1", description="Modul ajar literasi")]

    def period_opened(self, period_id: str, *, execution: tuple[date, date] | None = None,
                      per_activity: int | None = None) -> PeriodOpened:
        today = jakarta_today()
        start, end = execution or (today - timedelta(days=20), today + timedelta(days=40))
        return PeriodOpened(
            period_id=period_id, policy="pmm-2024", year=today.year, semester=1, name="Semester uji",
            starts_on=start - timedelta(days=30), ends_on=end + timedelta(days=30),
            month_start=1, month_end=6,
            stages=[
                PeriodStage(stage="perencanaan", starts_on=start - timedelta(days=30), ends_on=start - timedelta(days=1)),
                PeriodStage(stage="pelaksanaan", starts_on=start, ends_on=end),
                PeriodStage(stage="penilaian", starts_on=end + timedelta(days=1), ends_on=end + timedelta(days=30)),
            ],
            competency_points_max_per_activity=per_activity,
        )

    async def open_period(self, period_id: str | None = None, **kwargs) -> str:
        period_id = period_id or f"2026-S1-{uuid.uuid4().hex[:6]}"
        await self.publish(self.period_opened(period_id, **kwargs), "000000")

        async def known():
            async with self.runtime.session_factory() as session:
                return await session.get(PeriodView, period_id)

        await wait_for(known)
        return period_id

    def returned(self, plan: Plan, revision: int, at: datetime) -> PlanReturned:
        return PlanReturned(
            plan_id=plan.plan_id, period_id=plan.period_id, teacher_nip=plan.teacher_nip,
            school_npsn=plan.school_npsn, revision=revision, reason="lengkapi indikator",
            returned_by=plan.assessor_nip, returned_at=at,
        )

    async def plan_view(self, plan_id: str) -> PlanView | None:
        async with self.runtime.session_factory() as session:
            return await session.get(PlanView, plan_id)

    async def wait_plan_status(self, plan_id: str, status: str, revision: int | None = None) -> PlanView:
        async def reached():
            view = await self.plan_view(plan_id)
            if view and view.status == status and (revision is None or view.revision == revision):
                return view
            return None

        return await wait_for(reached)

    async def approved_plan(self, teacher_nip: str | None = None, period_id: str | None = None) -> Plan:
        """A plan submitted then disepakati, as planning would publish it."""
        plan = self.new_plan(teacher_nip, period_id)
        now = datetime.now(timezone.utc)
        await self.publish(self.submitted(plan, 1, now - timedelta(minutes=5)), plan.region)
        await self.publish(self.approved(plan, 1, now), plan.region)
        await self.wait_plan_status(plan.plan_id, "approved")
        return plan

    # -------------------------------------------------------------- callers
    def guru(self, nip: str) -> dict[str, str]:
        return bearer("guru", nip=nip, npsn=self.school_npsn)

    def assessor(self) -> dict[str, str]:
        return bearer("kepala_sekolah", nip=self.assessor_nip, npsn=self.school_npsn)

    async def upload(self, plan_id: str | None, data: bytes | None, name: str = "laporan.pdf",
                     headers: dict | None = None, declared: str = "application/pdf",
                     item_id: str | None = None) -> httpx.Response:
        form = {"plan_id": plan_id} if plan_id is not None else {}
        if item_id:
            form["item_id"] = item_id
        files = {"file": (name, data, declared)} if data is not None else None
        return await self.client.post("/v1/evidence", data=form, files=files, headers=headers or {})

    # -------------------------------------------------------------- what is stored
    def objects(self) -> list[str]:
        return [o.object_name for o in self.minio.list_objects(self.settings.s3_bucket, recursive=True)]

    async def evidence_rows(self) -> list[Evidence]:
        async with self.runtime.session_factory() as session:
            return list((await session.exec(select(Evidence))).all())

    async def upload_rows(self) -> tuple[list[UploadSession], list[UploadPart]]:
        async with self.runtime.session_factory() as session:
            return (list((await session.exec(select(UploadSession))).all()),
                    list((await session.exec(select(UploadPart))).all()))

    def multipart_uploads(self) -> list[str]:
        result = self.minio._list_multipart_uploads(self.settings.s3_bucket)
        return [u.object_name for u in result.uploads]

    async def outbox_events(self) -> list[str]:
        async with self.runtime.session_factory() as session:
            return [m.event_type for m in (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()]

    # -------------------------------------------------------------- resumable uploads
    async def start_upload(self, plan: Plan, data: bytes, headers: dict, *, content_type: str = "application/pdf",
                           sha256: str | None | bool = True, mode: str = "parts", item_id: str | None = "pk-1",
                           name: str = "laporan.pdf", size: int | None = None) -> httpx.Response:
        body = {"plan_id": plan.plan_id, "item_id": item_id, "file_name": name,
                "size_bytes": len(data) if size is None else size, "content_type": content_type, "mode": mode}
        if sha256 is True:
            body["sha256"] = hashlib.sha256(data).hexdigest()
        elif sha256:
            body["sha256"] = sha256
        return await self.client.post("/v1/uploads", json=body, headers=headers)

    async def put_part(self, upload_id: str, number: int, chunk: bytes, headers: dict,
                       sha256: str | None = None) -> httpx.Response:
        return await self.client.put(
            f"/v1/uploads/{upload_id}/parts/{number}", content=chunk,
            headers={**headers, "X-Part-SHA256": sha256 or hashlib.sha256(chunk).hexdigest()},
        )

    async def upload_in_parts(self, plan: Plan, data: bytes, headers: dict, **start) -> httpx.Response:
        started = await self.start_upload(plan, data, headers, **start)
        assert started.status_code == 201, started.text
        info = started.json()
        size = info["part_size"]
        for n in range(1, info["parts_total"] + 1):
            sent = await self.put_part(info["upload_id"], n, data[(n - 1) * size: n * size], headers)
            assert sent.status_code == 200, sent.text
        return await self.client.post(f"/v1/uploads/{info['upload_id']}/complete", headers=headers)

    async def outbox_count(self) -> int:
        async with self.runtime.session_factory() as session:
            return (await session.exec(select(func.count()).select_from(OutboxMessage))).one()


def minio_for(s3_endpoint) -> Minio:
    return Minio(s3_endpoint.endpoint, access_key=s3_endpoint.access_key,
                 secret_key=s3_endpoint.secret_key, secure=False, region="us-east-1")


def settings_for(nats_server, database_url, s3, **overrides) -> Settings:
    values = dict(
        database_url=database_url, nats_url=nats_server.url,
        s3_endpoint=s3.endpoint, s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key, s3_secure=False,
        # A bucket per test: "nothing stored" is then checked on the whole bucket.
        s3_bucket=f"kinerja-evidence-{uuid.uuid4().hex[:12]}",
        evidence_max_bytes=256 * 1024,
        upload_part_size_bytes=5 * 1024 * 1024,  # S3's minimum: parts stay small in tests
        consumer_backoff_base_s=0.05,
        outbox_poll_interval_s=0.1,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def service_factory(nats_server, database_url, s3_endpoint):
    """Start the evidence service with these settings overrides (async context manager)."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(wait_ready: bool = True, **overrides):
        settings = settings_for(nats_server, database_url, s3_endpoint, **overrides)
        nc = await nats.connect(**nats_client_options(nats_server.url))
        js = nc.jetstream()
        await ensure_streams(js, settings)
        runtime, app = build(settings)
        try:
            async with running_app(app) as client:
                harness = EvidenceHarness(client, runtime, settings, js, minio_for(s3_endpoint))
                if wait_ready:
                    async def ready():
                        return (await client.get("/health/ready")).status_code == 200
                    await wait_for(ready)
                yield harness
        finally:
            await nc.close()

    return start


@pytest.fixture
async def service(service_factory):
    async with service_factory() as harness:
        yield harness


@dataclass
class ServiceProcess:
    """The evidence service as its own process (uvicorn), reached over real TCP."""

    url: str
    port: int
    settings: Settings
    process: Any
    js: Any
    minio: Minio
    harness: EvidenceHarness  # for building events; its client is not used

    async def publish(self, contract, region: str):
        return await self.harness.publish(contract, region)


@pytest.fixture
async def service_process(nats_server, database_url, s3_endpoint, tmp_path):
    import os
    import subprocess
    import sys

    from kinerja_shared.testing.servers import free_port

    port = free_port()
    settings = settings_for(nats_server, database_url, s3_endpoint, http_port=port)
    env = {**os.environ}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"KINERJA_{name.upper()}"] = value if isinstance(value, str) else (
            json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    log = open(tmp_path / "evidence.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "kinerja_evidence"], env=env, stdout=log, stderr=subprocess.STDOUT)
    nc = await nats.connect(**nats_client_options(nats_server.url))
    js = nc.jetstream()
    await ensure_streams(js, settings)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            async def ready():
                try:
                    return (await client.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(ready, timeout=60)
        harness = EvidenceHarness(None, None, settings, js, minio_for(s3_endpoint))  # type: ignore[arg-type]
        yield ServiceProcess(url, port, settings, process, js, minio_for(s3_endpoint), harness)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        await nc.close()
