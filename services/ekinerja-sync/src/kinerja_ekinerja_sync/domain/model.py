"""The states of one sync record (one finalized assessment version).

pending -> sending -> acknowledged
                   -> retrying -> sending ... (until max attempts) -> parked
                   -> parked (a rejection retrying cannot fix: message + responsible actor)
skipped: not mirrored (a non-ASN teacher). superseded: a newer version of the same assessment
took over before this one was acknowledged.
A record left in "sending" (the worker died mid-call) is picked up again when its lease
(next_attempt_at) passes, and e-Kinerja is read before re-sending.
"""

PENDING = "pending"
SENDING = "sending"
RETRYING = "retrying"
ACKNOWLEDGED = "acknowledged"
PARKED = "parked"
SKIPPED = "skipped"
SUPERSEDED = "superseded"

STATUSES = (PENDING, SENDING, RETRYING, ACKNOWLEDGED, PARKED, SKIPPED, SUPERSEDED)
DUE = (PENDING, SENDING, RETRYING)
OPEN = DUE  # not final yet

# What a record mirrors (SyncRecord.kind), in the field's own terms:
RESULT = "hasil"  # a final result (penilaian kinerja): POST /kinerjaperiodik/save
PLAN = "skp"  # an agreed plan ("disepakati"): POST /rencanaskp/save
PERIODIC_REVIEW = "review_periodik"  # a periodic review (ruang-gtk-2025): POST /evaluasiperiodik/save
KINDS = (RESULT, PLAN, PERIODIC_REVIEW)
