"""Messaging plumbing: streams and consumers, the outbox and its relay, the inbox, the
acknowledgement policy and dead letters."""
