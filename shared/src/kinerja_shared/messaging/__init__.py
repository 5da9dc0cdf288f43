"""Messaging plumbing: streams and consumers, the outbox and its relay, the inbox, the
acknowledgement policy and dead letters."""

from kinerja_shared.messaging import nats_compat

nats_compat.apply()
