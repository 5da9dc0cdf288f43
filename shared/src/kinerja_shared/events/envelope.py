"""The one envelope every event travels in, the contract base class and the registry.

Wire format: JSON of :class:`Envelope`. The payload is the JSON of one versioned contract
(a subclass of :class:`EventContract`). Subjects carry context, aggregate, event and region:

    kinerja.<context>.<aggregate>.<event>.<province code>.<district code>

so a district subscribes to ``kinerja.*.*.*.*.<district>`` and a province to
``kinerja.*.*.*.<province>.*``. The version is in the envelope and in the
``Kinerja-Event-Version`` header, not in the subject, so a new version does not move anyone's
subscription.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kinerja_shared.identifiers import province_of

SUBJECT_ROOT = "kinerja"
NO_REGION = "000000"


class EventContract(BaseModel):
    """A versioned event payload. Subclasses set the four class variables."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    context: ClassVar[str]
    aggregate: ClassVar[str]
    event: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        return f"{cls.context}.{cls.aggregate}.{cls.event}"


C = TypeVar("C", bound=EventContract)


class Envelope(BaseModel):
    """What is on the wire: metadata plus the payload of one contract."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(description="UUID; also the Nats-Msg-Id, the inbox key")
    type: str = Field(description="<context>.<aggregate>.<event>")
    version: int = Field(ge=1)
    occurred_at: datetime = Field(description="when it happened, UTC")
    producer: str = Field(description="the service that published it")
    correlation_id: str
    causation_id: str | None = Field(
        default=None, description="the event or request that caused this one"
    )
    region: str = Field(description="the district's 6-digit kode wilayah")
    payload: dict[str, Any]

    def subject(self) -> str:
        return subject_for(self.type, self.region)


def subject_for(event_type: str, region: str) -> str:
    region = region or NO_REGION
    return f"{SUBJECT_ROOT}.{event_type}.{province_of(region)}.{region}"


class TypedEnvelope(Envelope, Generic[C]):
    """For documentation (AsyncAPI) only: the envelope with its payload's schema."""

    payload: C  # type: ignore[assignment]


_REGISTRY: dict[tuple[str, int], type[EventContract]] = {}


def register(contract: type[C]) -> type[C]:
    key = (contract.event_type(), contract.version)
    if key in _REGISTRY and _REGISTRY[key] is not contract:
        raise ValueError(f"contract {key} registered twice")
    _REGISTRY[key] = contract
    return contract


def registered_contracts() -> list[type[EventContract]]:
    return sorted(_REGISTRY.values(), key=lambda c: (c.event_type(), c.version))


def contract_for(event_type: str, version: int) -> type[EventContract] | None:
    return _REGISTRY.get((event_type, version))


def make_envelope(
    payload: EventContract,
    *,
    producer: str,
    region: str,
    correlation_id: str,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> Envelope:
    return Envelope(
        event_id=event_id or str(uuid.uuid4()),
        type=payload.event_type(),
        version=payload.version,
        occurred_at=occurred_at or datetime.now(timezone.utc),
        producer=producer,
        correlation_id=correlation_id,
        causation_id=causation_id,
        region=region or NO_REGION,
        payload=payload.model_dump(mode="json"),
    )


class PoisonMessage(Exception):
    """A message no retry can fix: it goes to the dead-letter subject with this reason."""


def parse_envelope(data: bytes) -> tuple[Envelope, EventContract | None]:
    """Parse bytes into (envelope, contract). The contract is None for types nobody registered
    (the consumer decides whether it cares). Raises PoisonMessage with the reason otherwise."""
    try:
        envelope = Envelope.model_validate_json(data)
    except ValidationError as exc:
        raise PoisonMessage(f"amplop tidak valid: {_short(exc)}") from exc
    known_versions = [v for (t, v) in _REGISTRY if t == envelope.type]
    if not known_versions:
        return envelope, None
    contract = contract_for(envelope.type, envelope.version)
    if contract is None:
        raise PoisonMessage(
            f"versi {envelope.version} dari {envelope.type} tidak dikenal "
            f"(dikenal: {sorted(known_versions)})"
        )
    try:
        return envelope, contract.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PoisonMessage(f"payload {envelope.type} v{envelope.version} tidak valid: {_short(exc)}") from exc


def _short(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)
