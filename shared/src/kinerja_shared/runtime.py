"""The part of every composition root that is the same: database, broker, streams,
consumers, outbox relay, background tasks and the HTTP app around them.

A service's ``bootstrap.py`` builds a :class:`ServiceRuntime`, adds its consumers and routes,
and hands the app to uvicorn. Start-up order matters: connect to NATS, declare streams and
durable consumers (idempotent), then start the subscribers (they only bind), then the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.nats import NatsBroker
from faststream.nats.security import NatsUserPassword
from sqlalchemy.schema import Table

from kinerja_shared.auth import TokenVerifier, check_auth_settings
from kinerja_shared.clock import clock_from_settings
from kinerja_shared.db import create_tables, make_engine, make_session_factory, ping
from kinerja_shared.events.envelope import EventContract
from kinerja_shared.hardening import OPENAPI_PATH, docs_enabled
from kinerja_shared.http import DatabaseOutage, DetailCheck, ReadinessCheck, install_conventions
from kinerja_shared.idempotency import IdempotencyKey, IdempotencyStore
from kinerja_shared.logging import configure_logging, get_logger
from kinerja_shared.messaging.consumer import EventConsumer, Handler
from kinerja_shared.messaging.inbox import InboxMessage
from kinerja_shared.messaging.metrics import NATS_CONNECTED
from kinerja_shared.messaging.nats_auth import check_consumer, client_options
from kinerja_shared.messaging.outbox import OutboxMessage, OutboxRelay
from kinerja_shared.messaging.streams import ConsumerSpec, ensure_consumer, ensure_streams
from kinerja_shared.migrations import upgrade_database
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.tasks import stop_task
from kinerja_shared.uow import UnitOfWorkFactory

log = get_logger(__name__)

BackgroundTask = Callable[[], Awaitable[None]]


async def _log_disconnect() -> None:
    NATS_CONNECTED.set(0)
    log.warning("nats.disconnected")


async def _log_reconnect() -> None:
    NATS_CONNECTED.set(1)
    log.info("nats.reconnected")


class ServiceRuntime:
    def __init__(
        self, settings: ServiceSettings, tables: Sequence[Table], migrations: Path | None = None
    ) -> None:
        """``migrations``: the service's Alembic folder, upgraded to head at start-up. Without
        it (test runtimes with ad-hoc tables) the tables are created with ``create_all``."""
        # First: a production start with development sign-in stops here, with the reason.
        check_auth_settings(settings)
        self.settings = settings
        self.migrations = migrations
        self.clock = clock_from_settings(settings)
        self.engine = make_engine(settings.database_url)
        self.session_factory = make_session_factory(self.engine)
        # Reconnect forever: nats-py gives up after 60 attempts by default.
        # The service's own NATS user, its password and its own inbox prefix; the servers as a
        # list (KINERJA_NATS_URL is comma-separated for a cluster). Refused here, before any
        # connection, in production without a password.
        self.nats_options = client_options(settings)
        self.broker = NatsBroker(
            self.nats_options["servers"],
            security=NatsUserPassword(self.nats_options["user"], self.nats_options["password"]),
            inbox_prefix=self.nats_options["inbox_prefix"],
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            disconnected_cb=_log_disconnect,
            reconnected_cb=_log_reconnect,
            # FastStream's per-message access lines carry none of our ids; ours do
            # (event.handled, event.retry, event.dead_lettered), so theirs go to DEBUG.
            log_level=logging.DEBUG,
        )
        self.relay = OutboxRelay(
            self.session_factory,
            lambda: self.broker.connection.jetstream(),
            batch_size=settings.outbox_batch_size,
            poll_interval_s=settings.outbox_poll_interval_s,
            retention_days=settings.outbox_retention_days,
            max_attempts=settings.outbox_max_attempts,
            park_after_s=settings.outbox_park_after_s,
        )
        self.uow = UnitOfWorkFactory(self.session_factory, settings.service_name, self.relay.notify,
                                     event_max_bytes=settings.event_max_bytes)
        self.tables = [OutboxMessage.__table__, InboxMessage.__table__, IdempotencyKey.__table__, *tables]
        self.consumers: list[EventConsumer] = []
        self.idempotency = IdempotencyStore(self.session_factory, settings)
        self.background: list[BackgroundTask] = [self.idempotency.purge_forever]
        self.database_outage = DatabaseOutage()
        self.database_outage.watch(self.engine)
        # What /health/ready fails on: what answering HTTP needs; a service adds its own
        # (evidence: object storage).
        self.readiness: dict[str, ReadinessCheck] = {"database": self.check_database}
        # Shown by /health/ready, never failing it: the outbox holds events while NATS is away,
        # and a broker blip must not take every replica out of the load balancer.
        # The outbox detail (pending and parked rows) also refreshes kinerja_outbox_pending and
        # kinerja_outbox_parked on every /metrics scrape.
        self.readiness_details: dict[str, DetailCheck] = {"nats": self.nats_state, "outbox": self.relay.state}
        self._tasks: list[asyncio.Task] = []

    def add_consumer(
        self, spec: ConsumerSpec, handlers: dict[type[EventContract], Handler]
    ) -> EventConsumer:
        check_consumer(self.nats_options["user"], spec.stream, spec.durable)
        consumer = EventConsumer(spec, handlers, self.uow, self.settings)
        consumer.attach(self.broker)
        self.consumers.append(consumer)
        return consumer

    def add_background(self, task: BackgroundTask) -> None:
        self.background.append(task)

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """A dependency without which the service cannot answer: failing, it fails readiness."""
        self.readiness[name] = check

    def add_readiness_detail(self, name: str, check: DetailCheck) -> None:
        """A dependency shown in /health/ready ``details`` (``check`` returns a short state),
        never failing readiness."""
        self.readiness_details[name] = check

    async def start(self) -> None:
        if self.migrations is not None:
            await upgrade_database(self.engine, self.migrations)
        else:
            await create_tables(self.engine, self.tables)
        await self._connect_until_up()
        NATS_CONNECTED.set(1)
        await self._declare_until_done()
        await self.broker.start()
        self.relay.start()
        self._tasks = [asyncio.create_task(task()) for task in self.background]
        log.info("service.started")

    async def _declare_until_done(self) -> None:
        """Streams and durable consumers, declared idempotently. On a cluster that is electing a
        leader (a fresh R3 stream, a node just lost) JetStream answers `nats: timeout` for a few
        seconds: wait and declare again instead of exiting."""
        delay = 0.5
        while True:
            try:
                js = self.broker.connection.jetstream()
                await ensure_streams(js, self.settings)
                for consumer in self.consumers:
                    await ensure_consumer(js, consumer.spec, self.settings)
                return
            except Exception as exc:
                log.warning("nats.declare_failed", error=f"{type(exc).__name__}: {exc}", retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _connect_until_up(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.broker.connect()
                return
            except Exception as exc:  # NATS not up yet: wait, do not crash-loop
                log.warning("nats.connect_failed", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        # Each cancelled until it has stopped (one cancellation can be lost: kinerja_shared.tasks).
        await asyncio.gather(*(stop_task(task) for task in self._tasks))
        await self.relay.stop()
        try:
            await self.broker.stop()
        except Exception as exc:  # NATS away at shutdown (it may be): no drain, just close
            log.warning("nats.stop_failed", error=type(exc).__name__)
            connection = self.broker._connection
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
        await self.engine.dispose()
        log.info("service.stopped")

    async def check_database(self) -> None:
        await ping(self.engine)

    async def check_nats(self) -> None:
        if await self.nats_state() != "terhubung":
            raise ConnectionError("NATS tidak terhubung")

    async def nats_state(self) -> str:
        connection = self.broker._connection  # None before start
        connected = connection is not None and connection.is_connected
        NATS_CONNECTED.set(1 if connected else 0)
        return "terhubung" if connected else "terputus"

    def http_app(
        self,
        *,
        title: str,
        description: str,
        routers: Sequence[APIRouter],
        version: str = "0.1.0",
    ) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_app: FastAPI):
            # The issuer's key set is fetched alongside the start (best effort: an issuer away
            # now is asked again by the first request, which answers 503 while it stays away).
            keys = asyncio.ensure_future(asyncio.to_thread(_app.state.token_verifier.prefetch))
            try:
                await self.start()
            finally:
                try:
                    await keys
                except Exception as exc:
                    log.warning("auth.keys_prefetch_failed", error=f"{type(exc).__name__}: {exc}")
            try:
                yield
            finally:
                await self.stop()

        # FastAPI's own /docs and /redoc load from a CDN: ours are local (kinerja_shared.hardening).
        app = FastAPI(title=title, description=description, version=version, lifespan=lifespan,
                      docs_url=None, redoc_url=None,
                      openapi_url=OPENAPI_PATH if docs_enabled(self.settings) else None)
        app.state.settings = self.settings
        app.state.runtime = self
        app.state.token_verifier = TokenVerifier(self.settings)
        install_conventions(app, readiness=self.readiness, details=self.readiness_details,
                            idempotency=self.idempotency, outage=self.database_outage,
                            settings=self.settings)
        for router in routers:
            app.include_router(router)
        return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging(settings.service_name, json=settings.log_json, level=settings.log_level)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        server_header=False,  # no "uvicorn" (nor a version) for a scanner to match
        timeout_graceful_shutdown=5,
    )
