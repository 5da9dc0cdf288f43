"""Kinerja shared library: what every service uses the same way.

Event contracts (events/), messaging plumbing (messaging/: streams, outbox, inbox,
acknowledgement policy, dead letters), settings, logging, auth, HTTP conventions and
identifiers. No service's domain logic lives here.
"""
