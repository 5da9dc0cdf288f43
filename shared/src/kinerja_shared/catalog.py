"""The event catalog as an AsyncAPI document, generated from the registered contracts.

    python -m kinerja_shared.catalog docs/asyncapi.yaml     (or: make asyncapi)

FastStream generates the document from a broker that declares one publisher per contract, each
with the full envelope schema (the payload typed by the contract). A test fails when the
committed docs/asyncapi.yaml differs from what this produces, so the catalog cannot go stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from pydantic import create_model

from kinerja_shared.events import contracts as _contracts  # noqa: F401  (registers them)
from kinerja_shared.events.envelope import SUBJECT_ROOT, Envelope, registered_contracts
from kinerja_shared.messaging.streams import CONTEXT_STREAMS, DEAD_LETTER_ROOT

DESCRIPTION = """Events published by the Kinerja services on NATS JetStream.

Every message is a JSON envelope (event_id, type, version, occurred_at, producer,
correlation_id, causation_id, region, payload). Subjects:
`kinerja.<context>.<aggregate>.<event>.<province kode wilayah>.<district kode wilayah>`;
a district subscribes to `kinerja.*.*.*.*.<district>`, a province to
`kinerja.*.*.*.<province>.*`. Headers: `Nats-Msg-Id` (= event_id, JetStream de-duplication),
`Kinerja-Event-Type`, `Kinerja-Event-Version`, `Kinerja-Correlation-Id`.
Streams (file storage, one per producing context): """ + ", ".join(
    f"{name} (`kinerja.{context}.>`)" for context, name in CONTEXT_STREAMS.items()
) + f""". Dead letters: `{DEAD_LETTER_ROOT}.<consumer>` with the reason in headers.
Consumers must de-duplicate by event_id (the services use an inbox table)."""


def build_spec() -> AsyncAPI:
    broker = NatsBroker()
    for contract in registered_contracts():
        envelope_model = create_model(
            f"{contract.__name__}V{contract.version}Envelope",
            __base__=Envelope,
            payload=(contract, ...),
        )
        subject = f"{SUBJECT_ROOT}.{contract.event_type()}.{{province}}.{{district}}"
        doc = (contract.__doc__ or "").strip()
        broker.publisher(
            subject,
            stream=CONTEXT_STREAMS[contract.context],
            title=f"{contract.event_type()} v{contract.version}",
            description=doc or None,
            schema=envelope_model,
        )
    return AsyncAPI(
        broker,
        title="Kinerja events",
        version="1.0.0",
        description=DESCRIPTION,
    )


def render() -> str:
    """The document as YAML with every mapping sorted, so the output does not depend on the
    order in which FastStream happens to walk its publishers."""
    document = build_spec().to_specification().to_jsonable()
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=100)


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/asyncapi.yaml")
    target.write_text(render())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
