"""The composition root: settings, runtime (database, NATS, outbox), object storage, consumer,
routes."""

from __future__ import annotations

from fastapi import FastAPI

from kinerja_shared.clock import clock_from_settings
from kinerja_shared.runtime import ServiceRuntime, serve

from kinerja_evidence.adapters.storage import ObjectStorage
from kinerja_evidence.adapters.tables import TABLES
from kinerja_evidence.entrypoints import activities_http, http
from kinerja_evidence.entrypoints.handlers import (
    ASSESSMENT_CONSUMER,
    ASSESSMENT_HANDLERS,
    PERIOD_HANDLERS,
    PERIODS_CONSUMER,
    PLANNING_CONSUMER,
    PLANNING_HANDLERS,
)
from kinerja_evidence.migrations import LOCATION as MIGRATIONS
from kinerja_evidence.service_layer.resumable import run_sweeper
from kinerja_evidence.settings import Settings

DESCRIPTION = """Bukti dukung (supporting evidence) for agreed performance plans.

Files go to S3-compatible object storage under generated keys, typed from their content,
with their SHA-256 recorded; downloads are short-lived presigned URLs. The service learns which
plans are agreed from planning's events and publishes `EvidenceUploaded`, `EvidenceVerified`,
`EvidenceRejected` and `EvidenceDeleted`. Large files go through resumable uploads
(`/v1/uploads`): parts in order, each checked, resumable after a dropped connection."""


def build(settings: Settings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, tables=TABLES, migrations=MIGRATIONS)
    storage = ObjectStorage.from_settings(settings)
    runtime.add_consumer(PLANNING_CONSUMER, PLANNING_HANDLERS)
    runtime.add_consumer(PERIODS_CONSUMER, PERIOD_HANDLERS)
    runtime.add_consumer(ASSESSMENT_CONSUMER, ASSESSMENT_HANDLERS)
    # The store may start after us: create the bucket in the background; readiness waits for
    # it (and makes it again if the store comes back empty).
    runtime.add_background(storage.keep_trying_to_ensure_bucket)
    runtime.add_readiness_check("object_storage", storage.check)
    # Abandoned resumable uploads: S3 multipart aborted, staging objects and rows removed; and
    # objects a killed process left without their evidence row (pending-object records).
    runtime.add_background(
        lambda: run_sweeper(runtime.uow, storage, settings.upload_sweep_interval_s,
                            settings.pending_object_max_age_s)
    )
    app = runtime.http_app(
        title="Kinerja evidence", description=DESCRIPTION, routers=[http.router, activities_http.router]
    )
    app.state.evidence = http.EvidenceContext(runtime.uow, storage, settings, clock_from_settings(settings))
    return runtime, app


def main() -> None:
    settings = Settings()
    _, app = build(settings)
    serve(app, settings)
