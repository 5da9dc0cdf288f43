"""Fixtures: the assessment service running in-process against real NATS JetStream and a real
database (SQLite, then PostgreSQL). Helpers live in assessment_harness.py."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

sys.path.insert(0, str(Path(__file__).parent))

from kinerja_shared.clock import FixedClock  # noqa: E402
from kinerja_shared.testing.http import running_app  # noqa: E402
from kinerja_shared.testing.servers import nats_client_options

from kinerja_assessment.bootstrap import build  # noqa: E402
from kinerja_assessment.settings import Settings  # noqa: E402


@pytest.fixture
async def service(nats_server, database_url):
    nc = await nats.connect(**nats_client_options(nats_server.url))
    js = nc.jetstream()
    # A clean slate: this test's events only, consumers starting from the beginning.
    for stream, durable in (("KINERJA_PLANNING", "assessment-planning"), ("KINERJA_EVIDENCE", "assessment-evidence")):
        try:
            await js.delete_consumer(stream, durable)
        except NotFoundError:
            pass
        try:
            await js.purge_stream(stream)
        except NotFoundError:
            pass
    settings = Settings(database_url=database_url, nats_url=nats_server.url,
                        consumer_backoff_base_s=0.1, consumer_backoff_max_s=0.5, consumer_max_deliveries=50)
    runtime, app = build(settings)
    # The assessment stage of the harness' Semester 1 2026 (tests move it with runtime.clock.set).
    runtime.clock = FixedClock(datetime(2026, 6, 10, 3, 0, tzinfo=timezone.utc))
    async with running_app(app) as client:
        await js.purge_stream("KINERJA_ASSESSMENT")
        yield runtime, client, js
    await nc.close()
