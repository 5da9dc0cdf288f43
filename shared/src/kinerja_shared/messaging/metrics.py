"""Prometheus metrics shared by every service (one registry per process)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "kinerja_events_published_total", "Events published by the outbox relay", ["event_type"]
)
OUTBOX_PENDING = Gauge("kinerja_outbox_pending", "Outbox rows waiting to be published (parked rows not counted)")
# Rows the relay set aside because NATS cannot take them (too large, refused, failing N times):
# anything above 0 needs an operator (kinerja-outbox parked / unpark).
OUTBOX_PARKED = Gauge("kinerja_outbox_parked", "Outbox rows parked by the relay, waiting for an operator")
EVENTS_HANDLED = Counter(
    "kinerja_events_handled_total",
    "Messages taken by a consumer, by outcome",
    ["consumer", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "kinerja_handler_seconds", "Time spent in an event handler", ["consumer"]
)
# 1 while the service's NATS connection is up. Not part of readiness (the outbox holds events
# while the broker is away); alert on it instead.
NATS_CONNECTED = Gauge("kinerja_nats_connected", "1 while the NATS connection is up, else 0")
