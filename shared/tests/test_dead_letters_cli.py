"""``kinerja-dlq`` against a real NATS server whose dead-letter stream is empty.

A freshly declared stream reports first_seq 0 and last_seq 0; reading message 0 is a 400 from
the server, and ``list`` used to crash on it with exit 1. A purged stream (every letter
replayed and deleted) reports first_seq > last_seq. Both must say there are none and exit 0."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from kinerja_shared.messaging.consumer import DLQ_CONSUMER, DLQ_SUBJECT
from kinerja_shared.messaging.streams import DEAD_LETTER_STREAM, dead_letter_subject, ensure_streams
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.servers import nats_client_options

DLQ = str(Path(sys.executable).parent / "kinerja-dlq")


def run_dlq(nats_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KINERJA_NATS_URL": nats_url, "COLUMNS": "200"}
    return subprocess.run([DLQ, *args], env=env, capture_output=True, text=True, timeout=60)


async def declare(url: str, purge_after_one: bool = False) -> None:
    nc = await nats.connect(**nats_client_options(url))
    try:
        js = nc.jetstream()
        await ensure_streams(js, ServiceSettings(nats_url=url))
        if purge_after_one:  # a stream that had a letter, now gone: first_seq > last_seq
            await js.publish(dead_letter_subject("x"), b"{}", headers={"Nats-Msg-Id": "one"})
            await js.purge_stream(DEAD_LETTER_STREAM)
    finally:
        await nc.close()


@pytest.fixture
def fresh_nats(nats_factory):
    return nats_factory().start()


@pytest.mark.parametrize("purged", [False, True], ids=["never-used", "purged"])
@pytest.mark.parametrize("command", [["list"], ["list", "--consumer", "assessment-planning"], ["replay"]])
def test_empty_dead_letter_stream(fresh_nats, command, purged):
    asyncio.run(declare(fresh_nats.url, purge_after_one=purged))
    result = run_dlq(fresh_nats.url, *command)
    assert result.returncode == 0, result.stderr[-2000:]
    if command[0] == "list":
        assert "no dead letters" in result.stdout
    else:
        assert "replayed 0 dead letter(s)" in result.stdout


def test_list_and_replay_with_letters(fresh_nats):
    """The fix must not hide letters that are there, and replay empties the stream again."""
    async def setup() -> None:
        await declare(fresh_nats.url)
        nc = await nats.connect(**nats_client_options(fresh_nats.url))
        js = nc.jetstream()
        headers = {"Nats-Msg-Id": "dl-1", DLQ_CONSUMER: "c1", DLQ_SUBJECT: "kinerja.planning.test.x"}
        await js.publish(dead_letter_subject("c1"), b"{}", headers=headers)
        await nc.close()

    asyncio.run(setup())
    listed = run_dlq(fresh_nats.url, "list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "1 dead letter(s)" in listed.stdout
    replayed = run_dlq(fresh_nats.url, "replay", "--consumer", "c1")
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert "replayed 1 dead letter(s)" in replayed.stdout
    # The replayed letter was deleted: the stream is empty again (first_seq > last_seq).
    again = run_dlq(fresh_nats.url, "list")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "no dead letters" in again.stdout
