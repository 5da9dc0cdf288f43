"""Streams and durable consumers, declared once by an idempotent setup step.

One stream per producing context (file storage, a year's retention and more, replicas from
settings) and one for dead letters. Every service runs :func:`ensure_streams` and
:func:`ensure_consumer` at start-up; running them again changes nothing. Subscribers only bind
to consumers that exist (they never create them with defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NotFoundError

from kinerja_shared.logging import get_logger
from kinerja_shared.settings import ServiceSettings

log = get_logger(__name__)

CONTEXT_STREAMS: dict[str, str] = {
    "planning": "KINERJA_PLANNING",
    "evidence": "KINERJA_EVIDENCE",
    "assessment": "KINERJA_ASSESSMENT",
    "ekinerja": "KINERJA_EKINERJA",
}
DEAD_LETTER_STREAM = "KINERJA_DEAD_LETTERS"
DEAD_LETTER_ROOT = "kinerja.deadletter"


def dead_letter_subject(consumer: str) -> str:
    return f"{DEAD_LETTER_ROOT}.{consumer}"


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer, shared by every replica of one service for one purpose."""

    durable: str
    stream: str
    filter_subjects: list[str] = field(default_factory=list)


def _stream_configs(settings: ServiceSettings) -> list[api.StreamConfig]:
    common = dict(
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        num_replicas=settings.stream_replicas,
        max_age=settings.stream_max_age_days * 24 * 3600,
        duplicate_window=float(settings.stream_duplicate_window_s),
    )
    configs = [
        api.StreamConfig(name=name, subjects=[f"kinerja.{context}.>"], **common)
        for context, name in CONTEXT_STREAMS.items()
    ]
    configs.append(
        api.StreamConfig(name=DEAD_LETTER_STREAM, subjects=[f"{DEAD_LETTER_ROOT}.>"], **common)
    )
    return configs


async def ensure_streams(
    js: JetStreamContext, settings: ServiceSettings, default_user: str | None = None
) -> None:
    """Create the streams that are missing; update the configuration of those this NATS user
    may change (a service: its own and the dead letters; nats_auth.streams_updated_by)."""
    from kinerja_shared.messaging.nats_auth import streams_updated_by, user_of

    updatable = streams_updated_by(user_of(settings, default_user))
    for config in _stream_configs(settings):
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream.created", stream=config.name)
            continue
        if config.name not in updatable:
            continue
        try:
            await js.update_stream(config)
        except BadRequestError as exc:  # e.g. replicas cannot change on this server
            log.warning("stream.update_refused", stream=config.name, error=str(exc))


async def ensure_consumer(
    js: JetStreamContext, spec: ConsumerSpec, settings: ServiceSettings
) -> None:
    config = api.ConsumerConfig(
        name=spec.durable,
        durable_name=spec.durable,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=settings.consumer_ack_wait_s,
        # The server never gives up on its own: our handler moves a message to the
        # dead-letter subject after consumer_max_deliveries, with the reason.
        max_deliver=-1,
        max_ack_pending=1000,
        filter_subjects=spec.filter_subjects or None,
    )
    await js.add_consumer(spec.stream, config=config)
