"""Alembic migrations of the planning database (see kinerja_shared.migrations):
``kinerja-migrate planning upgrade``, ``kinerja-migrate planning revision -m "..."``."""

from pathlib import Path

LOCATION = Path(__file__).parent
