"""The short chaos run inside `make test`: a semester for a couple of hundred teachers on
PostgreSQL and a 3-node JetStream cluster while each service is killed (-9) once, a NATS node is
killed and restarted, S3 is restarted and another NATS node is lost for good; then nothing
lost, duplicated, orphaned or dead-lettered (tests/chaos/chaos_driver.py; `make chaos` is the long run).
KINERJA_CHAOS_TEACHERS changes the size."""

from __future__ import annotations

import json
import os

import pytest

import chaos_driver as chaos

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(420)
def test_a_semester_survives_the_fault_schedule(tmp_path, postgres_admin):
    report = chaos.run(int(os.environ.get("KINERJA_CHAOS_TEACHERS", "200")), cluster=True,
                       out=lambda _line: None, quiescence_timeout_s=120, workdir=tmp_path)
    problems = chaos.verdict(report)
    summary = {k: report.get(k) for k in ("teachers", "lost", "duplicates", "orphan_objects", "missing_objects",
                                          "dead_letters", "read_model_mismatches", "quiescence_s", "duration_s",
                                          "client_failures", "faults")}
    assert problems == [], json.dumps(summary, indent=1, default=str)
    assert report["finalized"] == report["approved"] == report["teachers"]
    kinds = {f["fault"].split(",")[0] for f in report["faults"]}
    assert {"kill -9 planning", "kill -9 evidence", "kill -9 assessment", "kill -9 ekinerja-sync", "restart S3"} <= kinds
