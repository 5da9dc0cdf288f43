"""Prometheus metrics shared by every service (one registry per process)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "kinerja_events_published_total", "Events published by the outbox relay", ["event_type"]
)
OUTBOX_PENDING = Gauge("kinerja_outbox_pending", "Outbox rows not yet published")
EVENTS_HANDLED = Counter(
    "kinerja_events_handled_total",
    "Messages taken by a consumer, by outcome",
    ["consumer", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "kinerja_handler_seconds", "Time spent in an event handler", ["consumer"]
)
