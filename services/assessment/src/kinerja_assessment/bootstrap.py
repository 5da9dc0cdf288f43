"""The composition root: settings, runtime (database, NATS, outbox), consumers, HTTP."""

from __future__ import annotations

from fastapi import FastAPI

from kinerja_shared.runtime import ServiceRuntime, serve

from kinerja_assessment.adapters.tables import TABLES
from kinerja_assessment.entrypoints import http
from kinerja_assessment.entrypoints.handlers import (
    EVIDENCE_CONSUMER,
    EVIDENCE_HANDLERS,
    PLANNING_CONSUMER,
    PLANNING_HANDLERS,
)
from kinerja_assessment.migrations import LOCATION as MIGRATIONS
from kinerja_assessment.settings import Settings

DESCRIPTION = """The assessor's workbench: rating hasil kerja and rating perilaku kerja, the
predikat kinerja from the PermenPANRB 6/2022 matrix (with SIASN codes), finalisation."""


def build(settings: Settings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, tables=TABLES, migrations=MIGRATIONS)
    runtime.add_consumer(PLANNING_CONSUMER, PLANNING_HANDLERS)
    runtime.add_consumer(EVIDENCE_CONSUMER, EVIDENCE_HANDLERS)
    app = runtime.http_app(title="Kinerja assessment", description=DESCRIPTION, routers=[http.router])
    return runtime, app


def main() -> None:
    settings = Settings()
    _runtime, app = build(settings)
    serve(app, settings)
