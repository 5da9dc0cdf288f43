"""Alembic migrations of the assessment database (see kinerja_shared.migrations):
``kinerja-migrate assessment upgrade``, ``kinerja-migrate assessment revision -m "..."``."""

from pathlib import Path

LOCATION = Path(__file__).parent
