"""The rules of every service, registered in :data:`kinerja_shared.access.RULES` on import, so the
docs table and the matrix test see every action whichever service is running."""

from kinerja_shared.access_rules import assessment, ekinerja_sync, evidence, planning  # noqa: F401
