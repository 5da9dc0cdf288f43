"""Correlation ids are validated and bounded (issue 11), on SQLite and PostgreSQL.

Found: an X-Correlation-ID over 64 characters turned every write into a 500 on PostgreSQL
(the outbox column is 64 characters). An id from a request header or an event that is not 1-64
characters of [A-Za-z0-9._:@/+=-] is now replaced by a fresh one."""

from __future__ import annotations

import json
import uuid

import nats
import pytest
from fastapi import APIRouter
from sqlmodel import select

from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.correlation import HTTP_HEADER, NATS_HEADER, accept, is_valid
from kinerja_shared.events import PeriodOpened
from kinerja_shared.events.envelope import make_envelope
from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.messaging.streams import ConsumerSpec
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.http import bearer, running_app
from kinerja_shared.testing.servers import nats_client_options
from kinerja_shared.testing.wait import eventually


def period(pid: str) -> PeriodOpened:
    return PeriodOpened(period_id=pid, policy="pmm-2024", year=2026, semester=1, name="S1",
                        starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6)


def test_what_is_a_valid_correlation_id():
    for good in (str(uuid.uuid4()), "01J9ZQ3V7N8Y2K5M4X6W1T0R9S", "a" * 64, "4bf92f3577b34da6a3ce929d0e0e4736",
                 "req-12.3:web@a/b+c="):
        assert is_valid(good) and accept(good) == good
    for bad in (None, "", "a" * 65, "with space", "ünïcode", "-leading-dash", "semi;colon", "new\nline"):
        assert not is_valid(bad)
        assert is_valid(accept(bad)) and accept(bad) != bad


async def test_an_overlong_correlation_id_is_replaced_and_the_write_succeeds(nats_server, database_url):
    runtime = ServiceRuntime(ServiceSettings(service_name="planning", database_url=database_url,
                                             nats_url=nats_server.url), tables=[])
    router = APIRouter()

    @router.post("/v1/periods")
    async def create(principal: CurrentPrincipal):
        async with runtime.uow() as uow:
            envelope = uow.publish(period(str(uuid.uuid4())), region="020500")
            await uow.commit()
        return {"event_id": envelope.event_id}

    app = runtime.http_app(title="t", description="d", routers=[router])
    async with running_app(app) as client:
        sent = "c" * 100
        r = await client.post("/v1/periods", headers={**bearer("dinas"), HTTP_HEADER: sent})
        assert r.status_code == 200, r.text
        answered = r.headers[HTTP_HEADER]
        assert answered != sent and uuid.UUID(answered)
        kept = await client.post("/v1/periods", headers={**bearer("dinas"), HTTP_HEADER: "trace-42"})
        assert kept.status_code == 200 and kept.headers[HTTP_HEADER] == "trace-42"
        async with runtime.session_factory() as session:
            rows = {r.event_id: r for r in (await session.exec(select(OutboxMessage))).all()}
        assert rows[r.json()["event_id"]].correlation_id == answered
        assert rows[kept.json()["event_id"]].correlation_id == "trace-42"


async def test_an_overlong_correlation_id_in_an_event_is_replaced_not_carried_on(nats_server, database_url):
    durable = f"corr-{uuid.uuid4().hex[:8]}"
    prefix = uuid.uuid4().hex[:8]
    # A test durable, not one of assessment's: as operator (kinerja_shared.messaging.nats_auth).
    runtime = ServiceRuntime(ServiceSettings(service_name="assessment", database_url=database_url,
                                             nats_url=nats_server.url, consumer_max_deliveries=2,
                                             nats_user="operator"), tables=[])

    async def handler(event: PeriodOpened, envelope, uow):
        if event.period_id == f"{prefix}-in":  # react with an event of our own
            uow.publish(period(f"{event.period_id}-reply"), region="020500")

    runtime.add_consumer(ConsumerSpec(durable, "KINERJA_PLANNING", ["kinerja.planning.period.>"]), {PeriodOpened: handler})
    await runtime.start()
    try:
        envelope = make_envelope(period(f"{prefix}-in"), producer="planning", region="020500",
                                 correlation_id="e" * 300)
        nc = await nats.connect(**nats_client_options(nats_server.url))
        try:
            await nc.jetstream().publish(envelope.subject(), envelope.model_dump_json().encode(), headers={
                "Nats-Msg-Id": envelope.event_id, NATS_HEADER: "e" * 300})
        finally:
            await nc.close()

        async def replied():
            async with runtime.session_factory() as session:
                rows = (await session.exec(select(OutboxMessage))).all()
            return [r for r in rows if f"{prefix}-in-reply" in r.data] or None

        [row] = await eventually(replied)
        assert is_valid(row.correlation_id) and json.loads(row.data)["correlation_id"] == row.correlation_id
    finally:
        await runtime.stop()
