"""The short chaos run inside `make test`: a semester for 200 teachers on PostgreSQL and a
3-node JetStream cluster while each service is killed (-9) once, a NATS node is killed and
restarted, S3 is restarted and another NATS node is lost for good (tests/chaos/chaos_driver.py;
`make chaos` is the long run). One run for the module, each invariant its own test, so a
failure names what broke. KINERJA_CHAOS_TEACHERS changes the size."""

from __future__ import annotations

import json
import os

import pytest

import chaos_driver as chaos

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def report(tmp_path_factory, postgres_admin):
    return chaos.run(int(os.environ.get("KINERJA_CHAOS_TEACHERS", "200")), cluster=True,
                     out=lambda _line: None, quiescence_timeout_s=120,
                     workdir=tmp_path_factory.mktemp("chaos"))


def show(report: dict, *keys: str) -> str:
    return json.dumps({k: report.get(k) for k in keys}, indent=1, default=str)


def test_every_fault_hit_while_teachers_were_at_work(report):
    kinds = {f["fault"].split(",")[0].split(" (")[0] for f in report["faults"]}
    assert {"kill -9 planning", "kill -9 evidence", "kill -9 assessment", "kill -9 ekinerja-sync", "restart S3",
            "kill -9 NATS node n1", "NATS node n3 lost for good"} <= kinds, kinds
    assert all(f["during_traffic"] for f in report["faults"]), show(report, "faults")


def test_every_command_completed_and_quiescence_reached(report):
    assert report["client_failures_count"] == 0, show(report, "client_failures")
    assert report["finalized"] == report["approved"] == report["uploaded"] == report["teachers"]
    assert report["quiescent"], show(report, "still_busy")
    assert not any(report["outbox_unsent"].values()) and not report["consumer_pending"]


def test_every_result_and_skp_in_ekinerja_exactly_once(report):
    assert report["lost"] == 0 and report["duplicates"] == 0, show(report, "ekinerja")


def test_no_dead_letters(report):
    assert report["dead_letters"] == 0


def test_read_models_equal_their_sources(report):
    assert not any(report["read_model_mismatches"].values()), show(report, "read_models")


def test_evidence_rows_and_s3_objects_one_to_one(report):
    assert report["missing_objects"] == 0 and report["sha256_mismatch"] == 0, show(report, "storage")
    assert report["orphan_objects"] == 0, show(report, "storage")
