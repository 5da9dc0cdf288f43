"""Alembic's entry point for the assessment database: only this service's tables (and the shared
outbox and inbox) are migrated and compared."""

from kinerja_shared.migrations import run_env

from kinerja_assessment.adapters.tables import TABLES

run_env(TABLES)
