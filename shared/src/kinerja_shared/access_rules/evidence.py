"""Who may do what in the evidence service (``evidence.<thing>.<verb>``).

A teacher's bukti dukung, daily reports and competency records are theirs (a guru, or a
principal for their own plan): they upload and change them; the plan's assessor of record
(the kepala sekolah for a guru, the pengawas for a principal) reads and reviews them; the Dinas
of the plan's region reads them; ``sistem`` reads everywhere. Other teachers and principals of
the same school do not read another's bukti.
"""

from kinerja_shared.access import rule

_OWNER = dict(guru="self", kepala_sekolah="self")
_READERS = dict(guru="self", kepala_sekolah=("self", "assessor"), pengawas=("self", "assessor"),
                dinas="region", operator_dinas="region", sistem="all")
_ASSESSOR = dict(kepala_sekolah="assessor", pengawas="assessor")

# Upload (one request, or a resumable session: start, parts, status, complete, abort).
EVIDENCE_UPLOAD = rule("evidence.evidence.upload", **_OWNER)
EVIDENCE_READ = rule("evidence.evidence.read", **_READERS)
EVIDENCE_REVIEW = rule("evidence.evidence.review", **_ASSESSOR)
EVIDENCE_DELETE = rule("evidence.evidence.delete", **_OWNER)
DAILY_REPORT_WRITE = rule("evidence.daily_report.write", **_OWNER)
DAILY_REPORT_READ = rule("evidence.daily_report.read", **_READERS)
DAILY_REPORT_REVIEW = rule("evidence.daily_report.review", **_ASSESSOR)
COMPETENCY_RECORD_WRITE = rule("evidence.competency_record.write", **_OWNER)
COMPETENCY_RECORD_READ = rule("evidence.competency_record.read", **_READERS)
COMPETENCY_RECORD_REVIEW = rule("evidence.competency_record.review", **_ASSESSOR)

ACTIONS = (EVIDENCE_UPLOAD, EVIDENCE_READ, EVIDENCE_REVIEW, EVIDENCE_DELETE, DAILY_REPORT_WRITE,
           DAILY_REPORT_READ, DAILY_REPORT_REVIEW, COMPETENCY_RECORD_WRITE, COMPETENCY_RECORD_READ,
           COMPETENCY_RECORD_REVIEW)
