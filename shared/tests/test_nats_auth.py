"""The broker is closed: every NATS we start requires a user, and each user may do only its part
(kinerja_shared.messaging.nats_auth). The tests run against the test NatsServer, which has the
same users and permissions as deploy/nats/auth.conf."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import nats
import pytest
from nats.errors import NoServersError
from nats.js.api import ConsumerConfig

from kinerja_shared.messaging.nats_auth import (
    AUTH_CONF,
    DOWNSTREAM,
    SERVICES,
    InsecureNatsSettings,
    check_consumer,
    client_options,
    development_password,
    render_auth_conf,
    shipped_files,
)
from kinerja_shared.messaging.streams import ConsumerSpec, ensure_consumer, ensure_streams
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings

SYNC = ConsumerSpec("ekinerja-sync-assessment", "KINERJA_ASSESSMENT", ["kinerja.assessment.assessment.finalized.>"])
FINALIZED = "kinerja.assessment.assessment.finalized.31.3171"


@pytest.fixture
async def broker(nats_factory):
    """A fresh server with the streams and the sync consumer declared by their owners."""
    server = nats_factory().start()
    sync = await server.connect("ekinerja-sync")
    await ensure_streams(sync.jetstream(), ServiceSettings(service_name="ekinerja-sync"))
    await ensure_consumer(sync.jetstream(), SYNC, ServiceSettings())
    await sync.close()
    yield server


async def refused(coro) -> str:
    """The error a refused JetStream call ends in: the server drops a publish or API request
    the user may not make (and reports a permissions violation), so no answer comes."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - nats-py raises a timeout or a permission error
        await asyncio.wait_for(coro, 5)
    return f"{type(caught.value).__name__}: {caught.value}"


async def test_a_connection_without_a_user_or_with_a_wrong_password_is_refused(broker):
    for options in ({}, {"user": "planning", "password": "wrong"}, {"user": "nobody", "password": "x"}):
        with pytest.raises((NoServersError, nats.errors.Error, OSError)):
            await nats.connect(broker.url, allow_reconnect=False, max_reconnect_attempts=0,
                               connect_timeout=2, **options)


@pytest.mark.parametrize("forger", ["ekinerja-sync", "planning", DOWNSTREAM])
async def test_a_forged_assessment_finalized_is_refused_and_never_reaches_the_sync_consumer(broker, forger):
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await broker.connect(forger, error_cb=on_error)
    try:
        reason = await refused(nc.jetstream().publish(FINALIZED, b'{"forged": true}', timeout=2))
    finally:
        await nc.close()
    assert any("permissions violation" in str(e).lower() for e in errors), (reason, errors)

    operator = await broker.connect()
    try:
        js = operator.jetstream()
        assert (await js.stream_info("KINERJA_ASSESSMENT")).state.messages == 0
        assert (await js.consumer_info("KINERJA_ASSESSMENT", SYNC.durable)).num_pending == 0
    finally:
        await operator.close()

    # The same publish by assessment, the only user that may make it, reaches the consumer.
    assessment = await broker.connect("assessment")
    try:
        await assessment.jetstream().publish(FINALIZED, b"{}", timeout=5)
        assert (await assessment.jetstream().stream_info("KINERJA_ASSESSMENT")).state.messages == 1
    finally:
        await assessment.close()
    sync = await broker.connect("ekinerja-sync")
    try:
        sub = await sync.jetstream().pull_subscribe_bind(
            SYNC.durable, SYNC.stream, inbox_prefix=b"_INBOX_ekinerja-sync.")
        [msg] = await sub.fetch(1, timeout=5)
        assert msg.subject == FINALIZED
        await msg.ack()
    finally:
        await sync.close()


async def test_downstream_reads_the_public_events_through_its_own_consumer_and_publishes_nothing(broker):
    assessment = await broker.connect("assessment")
    await assessment.jetstream().publish(FINALIZED, b"{}", timeout=5)
    await assessment.close()

    nc = await broker.connect(DOWNSTREAM)
    try:
        js = nc.jetstream()
        await js.add_consumer("KINERJA_ASSESSMENT", ConsumerConfig(durable_name="downstream", name="downstream"))
        sub = await js.pull_subscribe_bind("downstream", "KINERJA_ASSESSMENT", inbox_prefix=b"_INBOX_downstream.")
        [msg] = await sub.fetch(1, timeout=5)
        assert msg.subject == FINALIZED
        await msg.ack()
        for subject in (FINALIZED, "kinerja.planning.plan.submitted.31.3171", "kinerja.deadletter.downstream"):
            await refused(js.publish(subject, b"{}", timeout=2))
        # Nor may it pull from a service's consumer (taking its events away) or make other ones.
        await refused(_fetch(js, SYNC.durable, SYNC.stream))
        await refused(js.add_consumer("KINERJA_ASSESSMENT", ConsumerConfig(durable_name="mine", name="mine")))
        await refused(js.delete_stream("KINERJA_ASSESSMENT"))
    finally:
        await nc.close()

    operator = await broker.connect()
    try:
        info = await operator.jetstream().stream_info("KINERJA_ASSESSMENT")
        assert info.state.messages == 1  # nothing added, nothing removed
        assert (await operator.jetstream().consumer_info(SYNC.stream, SYNC.durable)).num_pending == 1
    finally:
        await operator.close()


async def _fetch(js, durable: str, stream: str):
    sub = await js.pull_subscribe_bind(durable, stream, inbox_prefix=b"_INBOX_downstream.")
    return await sub.fetch(1, timeout=2)


async def test_a_service_may_not_read_the_shared_inbox_nor_change_another_contexts_stream(broker):
    nc = await broker.connect("planning")
    errors: list[Exception] = []
    try:
        # Core NATS: deliveries to other users' inboxes and the events themselves.
        async def on_error(exc):
            errors.append(exc)

        spy = await nats.connect(**broker.client_options("planning"), error_cb=on_error)
        await spy.subscribe("_INBOX.>")
        await spy.subscribe("kinerja.>")
        await spy.flush()
        await asyncio.sleep(0.5)
        await spy.close()
        assert sum("permissions violation" in str(e).lower() for e in errors) == 2, errors

        from nats.js.api import StreamConfig

        js = nc.jetstream()
        await refused(js.update_stream(StreamConfig(name="KINERJA_ASSESSMENT", subjects=["kinerja.assessment.>"],
                                                    max_age=1)))
        await refused(js.delete_stream("KINERJA_PLANNING"))
    finally:
        await nc.close()


def test_the_shipped_auth_conf_and_kubernetes_configmap_are_the_rendering():
    for path, text in shipped_files().items():
        assert path.read_text() == text, f"{path} differs: run python -m kinerja_shared.messaging.nats_auth write"
    assert "password: $KINERJA_NATS_PASSWORD_PLANNING" in AUTH_CONF.read_text()
    assert "dev-only" not in render_auth_conf()  # no password is ever in the file


def test_production_refuses_the_development_password():
    with pytest.raises(InsecureNatsSettings, match="KINERJA_NATS_PASSWORD is not set"):
        ServiceRuntime(ServiceSettings(service_name="planning", environment="production",
                                       oidc_issuer="https://sso.example.go.id/realms/kinerja",
                                       database_url="sqlite+aiosqlite:///:memory:"), tables=[])
    options = client_options(ServiceSettings(service_name="planning", environment="production", nats_password="s3cret",
                                             nats_url="nats://a:4222, nats://b:4222"))
    assert options == {"servers": ["nats://a:4222", "nats://b:4222"], "user": "planning", "password": "s3cret",
                       "inbox_prefix": "_INBOX_planning"}
    assert client_options(ServiceSettings(service_name="evidence"))["password"] == development_password("evidence")


def test_a_production_start_without_a_nats_password_exits_with_the_reason():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINERJA_")}
    env.update({"KINERJA_ENVIRONMENT": "production", "KINERJA_NATS_URL": "nats://127.0.0.1:1",
                "KINERJA_OIDC_ISSUER": "https://sso.example.go.id/realms/kinerja",
                "KINERJA_DATABASE_URL": "sqlite+aiosqlite:////nonexistent/kinerja.db"})
    result = subprocess.run([str(Path(sys.executable).parent / "kinerja-planning"), "serve"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "refusing to start in production: KINERJA_NATS_PASSWORD is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_consumer_outside_the_services_permissions_is_refused_at_start_up():
    check_consumer("ekinerja-sync", SYNC.stream, SYNC.durable)
    with pytest.raises(ValueError, match="nats_auth.py"):
        check_consumer("ekinerja-sync", "KINERJA_EVIDENCE", "ekinerja-sync-evidence")
    assert set(SERVICES) == {"planning", "evidence", "assessment", "ekinerja-sync"}


async def test_stream_declaration_by_a_service_leaves_other_contexts_streams_alone(broker):
    """A service re-declaring the streams at start-up updates only its own (the others it may
    not change): with other replicas or retention in its settings, theirs stay as they were."""
    nc = await broker.connect("planning")
    try:
        await ensure_streams(nc.jetstream(), ServiceSettings(service_name="planning", stream_max_age_days=2))
        js = nc.jetstream()
        assert (await js.stream_info("KINERJA_PLANNING")).config.max_age == 2 * 24 * 3600
        assert (await js.stream_info("KINERJA_ASSESSMENT")).config.max_age == 400 * 24 * 3600
    finally:
        await nc.close()
