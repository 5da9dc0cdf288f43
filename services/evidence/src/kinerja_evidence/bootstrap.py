"""The composition root: settings, runtime (database, NATS, outbox), object storage, consumer,
routes."""

from __future__ import annotations

from fastapi import FastAPI

from kinerja_shared.runtime import ServiceRuntime, serve

from kinerja_evidence.adapters.storage import ObjectStorage
from kinerja_evidence.adapters.tables import TABLES
from kinerja_evidence.entrypoints import http
from kinerja_evidence.entrypoints.handlers import PLANNING_CONSUMER, PLANNING_HANDLERS
from kinerja_evidence.migrations import LOCATION as MIGRATIONS
from kinerja_evidence.settings import Settings

DESCRIPTION = """Bukti dukung (supporting evidence) for agreed performance plans.

Files go to S3-compatible object storage under generated keys, typed from their content,
with their SHA-256 recorded; downloads are short-lived presigned URLs. The service learns which
plans are agreed from planning's events and publishes `EvidenceUploaded`."""


def build(settings: Settings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, tables=TABLES, migrations=MIGRATIONS)
    storage = ObjectStorage.from_settings(settings)
    runtime.add_consumer(PLANNING_CONSUMER, PLANNING_HANDLERS)
    # The store may start after us: create the bucket in the background; readiness waits for it.
    runtime.add_background(storage.keep_trying_to_ensure_bucket)
    runtime.add_readiness_check("object_storage", storage.check)
    app = runtime.http_app(
        title="Kinerja evidence", description=DESCRIPTION, routers=[http.router]
    )
    app.state.evidence = http.EvidenceContext(runtime.uow, storage, settings)
    return runtime, app


def main() -> None:
    settings = Settings()
    _, app = build(settings)
    serve(app, settings)
