"""The composition root: settings, runtime (database, NATS, outbox), consumer, worker, HTTP."""

from __future__ import annotations

from fastapi import FastAPI

from kinerja_shared.runtime import ServiceRuntime, serve

from kinerja_ekinerja_sync.adapters.ekinerja_client import EkinerjaClient, HttpEkinerjaClient
from kinerja_ekinerja_sync.adapters.tables import TABLES
from kinerja_ekinerja_sync.entrypoints import http
from kinerja_ekinerja_sync.entrypoints.batch_consumer import BatchedEventConsumer
from kinerja_ekinerja_sync.entrypoints.handlers import (
    ASSESSMENT_CONSUMER,
    HANDLERS,
    PLANNING_CONSUMER,
    PLANNING_HANDLERS,
    REVIEW_CONSUMER,
    REVIEW_HANDLERS,
    ROSTER_CONSUMER,
    ROSTER_HANDLERS,
)
from kinerja_ekinerja_sync.migrations import LOCATION as MIGRATIONS
from kinerja_ekinerja_sync.service_layer.intake import recheck_waiting_forever
from kinerja_ekinerja_sync.service_layer.reconciliation import ScheduledReconciliation
from kinerja_ekinerja_sync.service_layer.sync import SyncWorker, prefetch_versions, write_recorded
from kinerja_ekinerja_sync.settings import Settings

DESCRIPTION = """Mirrors final assessment results, agreed plans (SKP) and periodic reviews into BKN
e-Kinerja (or its simulator) in the SIASN-like shape, records every attempt with its outcome and responsible actor, and serves the
Log Sinkronisasi."""


def make_client(settings: Settings) -> HttpEkinerjaClient:
    return HttpEkinerjaClient(
        settings.ekinerja_base_url,
        client_id=settings.ekinerja_client_id,
        client_secret=settings.ekinerja_client_secret,
        username=settings.ekinerja_username,
        password=settings.ekinerja_password,
        timeout_s=settings.ekinerja_timeout_s,
        # the worker's calls plus reconciliation and read-before-resend
        max_connections=max(20, settings.ekinerja_concurrency + 4),
    )


def build(settings: Settings | None = None, client: EkinerjaClient | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, tables=TABLES, migrations=MIGRATIONS)
    # Final results are taken in batches, one transaction each (see entrypoints/batch_consumer.py).
    consumer = BatchedEventConsumer(
        ASSESSMENT_CONSUMER, HANDLERS, runtime.uow, settings, fetch_timeout_s=settings.ekinerja_consumer_fetch_timeout_s,
        before_batch=prefetch_versions, after_batch=write_recorded,
    )
    consumer.use_jetstream(lambda: runtime.broker.connection.jetstream())
    runtime.consumers.append(consumer)  # declared at start-up like the others
    runtime.add_background(consumer.run)
    runtime.add_consumer(ROSTER_CONSUMER, ROSTER_HANDLERS)
    # Agreed plans (SKP) with the roster and periods they need: pulled in batches applied in the
    # stream's order (a FastStream subscriber handles a fetched batch concurrently, and a plan
    # next to the roster it needs would be parked for nothing).
    planning = BatchedEventConsumer(
        PLANNING_CONSUMER, PLANNING_HANDLERS, runtime.uow, settings,
        fetch_timeout_s=settings.ekinerja_consumer_fetch_timeout_s,
    )
    planning.use_jetstream(lambda: runtime.broker.connection.jetstream())
    runtime.consumers.append(planning)
    runtime.add_background(planning.run)
    # Periodic reviews (ruang-gtk-2025).
    runtime.add_consumer(REVIEW_CONSUMER, REVIEW_HANDLERS)
    if settings.ekinerja_waiting_recheck_s > 0:
        # The safety net for what waits on planning's data (a roster and a plan applied at the
        # same moment by two replicas, a review next to the roster): see intake.recheck_waiting.
        runtime.add_background(lambda: recheck_waiting_forever(runtime.uow, settings.ekinerja_waiting_recheck_s))
    worker = SyncWorker(runtime.uow, client or make_client(settings), settings)
    runtime.add_background(worker.run)
    runtime.worker = worker  # type: ignore[attr-defined]
    runtime.reconciliation = ScheduledReconciliation(runtime.uow, worker.client, settings)  # type: ignore[attr-defined]
    if settings.ekinerja_reconcile_interval_s > 0 and settings.reconcile_targets():
        runtime.add_background(runtime.reconciliation.run)  # type: ignore[attr-defined]
    app = runtime.http_app(title="Kinerja ekinerja-sync", description=DESCRIPTION, routers=[http.router])
    return runtime, app


def main() -> None:
    settings = Settings()
    _runtime, app = build(settings)
    serve(app, settings)
