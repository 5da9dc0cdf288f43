"""Alembic migrations of the evidence database (see kinerja_shared.migrations):
``kinerja-migrate evidence upgrade``, ``kinerja-migrate evidence revision -m "..."``."""

from pathlib import Path

LOCATION = Path(__file__).parent
