"""Fixtures: the planning service running in-process against real NATS JetStream and a real
database (SQLite, then PostgreSQL). Helpers live in planning_harness.py (a unique module name:
every service's tests share one pytest session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from planning_harness import CALENDAR_REGION, start_planning  # noqa: E402

from kinerja_planning.settings import Settings  # noqa: E402


@pytest.fixture
def settings(nats_server, database_url) -> Settings:
    return Settings(
        database_url=database_url, nats_url=nats_server.url, outbox_poll_interval_s=0.1,
        # The clock is ticked by the tests themselves (periods.tick), not in the background.
        roster_max_bytes=64 * 1024, period_tick_s=0, period_region=CALENDAR_REGION,
    )


@pytest.fixture
async def planning(settings):
    async with start_planning(settings) as service:
        yield service
