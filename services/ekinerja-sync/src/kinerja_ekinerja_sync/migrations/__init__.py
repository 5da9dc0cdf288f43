"""Alembic migrations of the ekinerja-sync database (see kinerja_shared.migrations):
``kinerja-migrate ekinerja-sync upgrade``, ``kinerja-migrate ekinerja-sync revision -m "..."``."""

from pathlib import Path

LOCATION = Path(__file__).parent
