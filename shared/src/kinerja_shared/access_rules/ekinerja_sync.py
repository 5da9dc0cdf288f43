"""Who may do what in ekinerja-sync (``ekinerja.<thing>.<verb>``; the context of its events).

The sync log of a teacher is theirs, their school's and the Dinas'; a school's log the school's
and the Dinas'; a district's log, the operators' record lists, re-queueing and reconciliation
are the Dinas' of that region. ``sistem`` (the operator CLI, the reconciliation job) acts
everywhere.
"""

from kinerja_shared.access import rule

_DINAS = dict(dinas="region", operator_dinas="region", sistem="all")

TEACHER_LOG_READ = rule("ekinerja.teacher_log.read", guru="self", kepala_sekolah="school", **_DINAS)
SCHOOL_LOG_READ = rule("ekinerja.school_log.read", kepala_sekolah="school", **_DINAS)
DISTRICT_LOG_READ = rule("ekinerja.district_log.read", **_DINAS)
SYNC_RECORD_READ = rule("ekinerja.sync_record.read", **_DINAS)
SYNC_RECORD_REQUEUE = rule("ekinerja.sync_record.requeue", **_DINAS)
RECONCILIATION_READ = rule("ekinerja.reconciliation.read", **_DINAS)
RECONCILIATION_RUN = rule("ekinerja.reconciliation.run", **_DINAS)

ACTIONS = (TEACHER_LOG_READ, SCHOOL_LOG_READ, DISTRICT_LOG_READ, SYNC_RECORD_READ, SYNC_RECORD_REQUEUE,
           RECONCILIATION_READ, RECONCILIATION_RUN)
