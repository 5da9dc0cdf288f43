"""NATS users and their permissions: the one description every NATS we start or ship uses.

Each service has its own user. It may publish only its own context's events
(``kinerja.<context>.>``), the dead letters of its own consumers, and the JetStream API calls
its start-up and its durable pull consumers make; it may subscribe only to its own reply inbox
(``_INBOX_<user>.>``: with the shared ``_INBOX.>`` any user could read the messages JetStream
delivers to the others). What a service consumes is fixed by which durable consumers it may
create and pull from. ``downstream`` reads the public streams through its own durable consumer
and publishes no event; ``operator`` is for the CLIs (``kinerja-dlq``, ``kinerja-outbox``).

The server side is rendered from this module into ``deploy/nats/auth.conf`` (included by
``deploy/nats/cluster.conf``, mounted by compose, copied into the ConfigMap of
``deploy/kubernetes/nats.yaml``) and into the config of every NATS the tests and the embedded
stack start; a test fails when a shipped copy differs from the rendering. Regenerate with::

    .venv/bin/python -m kinerja_shared.messaging.nats_auth write

Passwords are never in the file: it names environment variables (``$KINERJA_NATS_PASSWORD_<USER>``)
that nats-server resolves when it starts. Development and tests use :func:`development_password`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kinerja_shared.messaging.streams import CONTEXT_STREAMS, DEAD_LETTER_ROOT, DEAD_LETTER_STREAM
from kinerja_shared.settings import ServiceSettings

OPERATOR = "operator"
DOWNSTREAM = "downstream"


@dataclass(frozen=True)
class ServiceUser:
    """A service: the context whose events it publishes and its durable consumers by stream."""

    name: str
    context: str
    consumers: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class DownstreamUser:
    """A system outside Kinerja reading the public streams through one durable per stream."""

    name: str
    durable: str


# The durable names here are the ConsumerSpecs in each service's entrypoints/handlers.py
# (ServiceRuntime.add_consumer refuses one missing here, so they cannot drift apart).
SERVICES: dict[str, ServiceUser] = {
    user.name: user
    for user in (
        ServiceUser("planning", "planning"),
        ServiceUser("evidence", "evidence", {
            "KINERJA_PLANNING": ("evidence-planning", "evidence-periods"),
            "KINERJA_ASSESSMENT": ("evidence-assessment",),
        }),
        ServiceUser("assessment", "assessment", {
            "KINERJA_PLANNING": ("assessment-planning",),
            "KINERJA_EVIDENCE": ("assessment-evidence",),
        }),
        ServiceUser("ekinerja-sync", "ekinerja", {
            "KINERJA_PLANNING": ("ekinerja-sync-roster", "ekinerja-sync-planning"),
            "KINERJA_ASSESSMENT": ("ekinerja-sync-assessment", "ekinerja-sync-reviews"),
        }),
    )
}
# Add a downstream system here (its own user and durable name), then regenerate.
DOWNSTREAMS: tuple[DownstreamUser, ...] = (DownstreamUser(DOWNSTREAM, "downstream"),)
PUBLIC_STREAMS: tuple[str, ...] = tuple(CONTEXT_STREAMS.values())
ALL_STREAMS: tuple[str, ...] = (*PUBLIC_STREAMS, DEAD_LETTER_STREAM)


def users() -> list[str]:
    return [*SERVICES, *(d.name for d in DOWNSTREAMS), OPERATOR]


def inbox_prefix(user: str) -> str:
    return f"_INBOX_{user}"


def password_variable(user: str) -> str:
    """The environment variable nats-server reads the user's password from."""
    return "KINERJA_NATS_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", user.upper())


def development_password(user: str) -> str:
    """DEVELOPMENT AND TESTS ONLY (published in this repository): production refuses it."""
    return f"dev-only-nats-{user}"


def development_environment() -> dict[str, str]:
    """The variables a development or test nats-server is started with."""
    return {password_variable(user): development_password(user) for user in users()}


def streams_updated_by(user: str) -> tuple[str, ...]:
    """Streams a user may change the configuration of: a service its own and the dead letters;
    the others it may only create when missing (its consumers need them before their producer
    has started), so no service can shorten another context's retention."""
    if user in SERVICES:
        return (CONTEXT_STREAMS[SERVICES[user].context], DEAD_LETTER_STREAM)
    return () if user in {d.name for d in DOWNSTREAMS} else ALL_STREAMS  # operator


def _consumer_api(stream: str, durable: str) -> list[str]:
    return [
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>",  # the form with one filter subject
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",  # ack, nak, in-progress
    ]


def permissions(user: str) -> tuple[list[str], list[str]]:
    """(may publish, may subscribe) for a user."""
    subscribe = [f"{inbox_prefix(user)}.>"]
    if user == OPERATOR:
        return ["kinerja.>", "$JS.API.>", "$JS.ACK.>"], [*subscribe, "kinerja.>"]
    if user not in SERVICES:  # a downstream system: the public streams only
        publish = ["$JS.API.INFO", *(f"$JS.API.STREAM.INFO.{s}" for s in PUBLIC_STREAMS)]
    else:
        publish = ["$JS.API.INFO", *(f"$JS.API.STREAM.INFO.{s}" for s in ALL_STREAMS)]
    if user in SERVICES:
        service = SERVICES[user]
        publish[:0] = [f"kinerja.{service.context}.>"] + [
            f"{DEAD_LETTER_ROOT}.{durable}" for durables in service.consumers.values() for durable in durables
        ]
        publish += [f"$JS.API.STREAM.CREATE.{s}" for s in ALL_STREAMS]
        publish += [f"$JS.API.STREAM.UPDATE.{s}" for s in streams_updated_by(user)]
        for stream, durables in service.consumers.items():
            for durable in durables:
                publish += _consumer_api(stream, durable)
        return publish, subscribe
    [downstream] = [d for d in DOWNSTREAMS if d.name == user]
    for stream in PUBLIC_STREAMS:
        publish += [*_consumer_api(stream, downstream.durable),
                    f"$JS.API.CONSUMER.DELETE.{stream}.{downstream.durable}"]
    return publish, subscribe


def _list(subjects: list[str], indent: str) -> str:
    return "[\n" + "".join(f'{indent}  "{s}"\n' for s in subjects) + f"{indent}]"


def render_auth_conf() -> str:
    """The ``authorization`` block of nats-server's configuration: every user and its
    permissions; no user, no connection (there is no ``no_auth_user``)."""
    lines = [
        "# NATS users and permissions. GENERATED from shared/src/kinerja_shared/messaging/nats_auth.py",
        "# by `.venv/bin/python -m kinerja_shared.messaging.nats_auth write`: do not edit by hand.",
        "# Passwords come from the environment of nats-server (never from this file); see",
        "# docs/operations.md, \"NATS users and permissions\".",
        "authorization {",
        "  users: [",
    ]
    for user in users():
        publish, subscribe = permissions(user)
        lines += [
            "    {",
            f'      user: "{user}"',
            f"      password: ${password_variable(user)}",
            "      permissions: {",
            f"        publish: {{allow: {_list(publish, '        ')}}}",
            f"        subscribe: {{allow: {_list(subscribe, '        ')}}}",
            "      }",
            "    }",
        ]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- clients
class InsecureNatsSettings(SystemExit):
    """A production start without a NATS password: the process exits with the reason (no
    traceback), before it connects anywhere."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"kinerja: refusing to start in production: {reason}")


def user_of(settings: ServiceSettings, default_user: str | None = None) -> str:
    """The NATS user a process connects as: KINERJA_NATS_USER, else ``default_user`` (the CLIs:
    operator), else the service's own (its name)."""
    return settings.nats_user or default_user or settings.service_name


def check_consumer(user: str, stream: str, durable: str) -> None:
    """A service's durable consumer must be in its permissions (else NATS refuses it at
    start-up with only a timeout to show): refuse it here, with the place to add it."""
    if user in SERVICES and durable not in SERVICES[user].consumers.get(stream, ()):
        raise ValueError(
            f"NATS user {user!r} may not consume {stream} as {durable!r}: add it to SERVICES in "
            f"kinerja_shared/messaging/nats_auth.py and regenerate the shipped auth.conf"
        )


def client_options(settings: ServiceSettings, default_user: str | None = None) -> dict:
    """nats-py ``connect`` arguments for a service (its own user, named by service_name) or a
    CLI (``default_user="operator"``): servers (the comma-separated KINERJA_NATS_URL as a
    list), user, password, and the user's own inbox prefix (the only replies it may receive).
    Without KINERJA_NATS_PASSWORD the development password is used, except in production."""
    user = user_of(settings, default_user)
    password = settings.nats_password
    if not password:
        if settings.environment == "production":
            raise InsecureNatsSettings(
                f"KINERJA_NATS_PASSWORD is not set: the published development password of NATS user {user!r} "
                f"is for development only (docs/operations.md, \"NATS users and permissions\")"
            )
        password = development_password(user)
    return {
        "servers": [url.strip() for url in settings.nats_url.split(",") if url.strip()],
        "user": user,
        "password": password,
        "inbox_prefix": inbox_prefix(user),
    }


# ----------------------------------------------------------------------------- shipped files
# The repository (shared/src/kinerja_shared/messaging/ is four levels down); only the write
# command and the test read these files, never a service.
ROOT = Path(__file__).resolve().parents[min(4, len(Path(__file__).resolve().parents) - 1)]
AUTH_CONF = ROOT / "deploy" / "nats" / "auth.conf"
KUBERNETES = ROOT / "deploy" / "kubernetes" / "nats.yaml"
_K8S_BEGIN = "  auth.conf: |\n"


def _kubernetes_with(text: str, rendered: str) -> str:
    """nats.yaml with the ConfigMap's auth.conf key replaced by ``rendered``."""
    start = text.index(_K8S_BEGIN) + len(_K8S_BEGIN)
    end = text.index("---", start)
    block = "".join(f"    {line}\n" if line else "\n" for line in rendered.splitlines())
    return text[:start] + block + text[end:]


def shipped_files() -> dict[Path, str]:
    """What each shipped file should hold (the test compares, ``write`` writes)."""
    rendered = render_auth_conf()
    return {AUTH_CONF: rendered, KUBERNETES: _kubernetes_with(KUBERNETES.read_text(), rendered)}


def main(argv: list[str]) -> int:
    if argv[1:] != ["write"]:
        print("usage: python -m kinerja_shared.messaging.nats_auth write", file=sys.stderr)
        return 2
    for path, text in shipped_files().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
