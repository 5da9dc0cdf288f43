"""Who may do what in the assessment service (``assessment.<thing>.<verb>``).

The assessor of record (``assessor``) is the PPK the roster names: the kepala sekolah for a
guru, the pengawas for a principal. A pengawas reads only the assessments it makes, not its
whole region; the Dinas works in its region; ``sistem`` (the services' own tools) reads
everywhere. Reference data (the rubric) is for every signed-in role.
"""

from kinerja_shared.access import ROLES, rule

# The assessed person, the school, the PPK, the Dinas of the region: who reads an assessment.
_READERS = dict(guru="self", kepala_sekolah=("self", "assessor", "school"), operator_sekolah="school",
                pengawas=("self", "assessor"), dinas="region", operator_dinas="region", sistem="all")
# The PPK's own views of one assessment (not the assessed person's).
_PPK_VIEW = dict(kepala_sekolah=("assessor", "school"), operator_sekolah="school", pengawas="assessor",
                 dinas="region", operator_dinas="region", sistem="all")
_PPK = dict(kepala_sekolah="assessor", pengawas="assessor")
_DINAS = dict(dinas="region", operator_dinas="region")

ASSESSMENT_READ = rule("assessment.assessment.read", **_READERS)
ASSESSMENT_RATE = rule("assessment.assessment.rate", **_PPK)
ASSESSMENT_FINALIZE = rule("assessment.assessment.finalize", **_PPK)
ASSESSMENT_CORRECT = rule("assessment.assessment.correct", **_PPK, **_DINAS)
# The assessed person acknowledges or objects (a guru, or a principal assessed by their pengawas).
ASSESSMENT_RESPOND = rule("assessment.assessment.respond", guru="self", kepala_sekolah="self")
DISTRIBUTION_READ = rule("assessment.distribution.read", **_PPK_VIEW)
WORKBENCH_READ = rule("assessment.workbench.read", **_PPK_VIEW)
OBJECTION_DECIDE = rule("assessment.objection.decide", **_DINAS)
OBSERVATION_READ = rule("assessment.observation.read", **_READERS)
OBSERVATION_RECORD = rule("assessment.observation.record", **_PPK)
REVIEW_READ = rule("assessment.review.read", **_READERS)
REVIEW_RECORD = rule("assessment.review.record", **_PPK)
RUBRIC_READ = rule("assessment.rubric.read", **{role: "all" for role in ROLES})
# One school: the school's district; every school of the period: the caller's own region.
DEADLINE_EXTEND = rule("assessment.deadline.extend", **_DINAS)
ORGANISATION_PREDIKAT_SET = rule("assessment.organisation_predikat.set", **_DINAS)
# A school's recap: that school, and the Dinas of its region; a district's or province's: the
# Dinas (and pengawas) whose region covers it.
RECAP_READ = rule("assessment.recap.read", kepala_sekolah="school", operator_sekolah="school",
                  pengawas="region", dinas="region", operator_dinas="region", sistem="all")
ANGKA_KREDIT_READ = rule("assessment.angka_kredit.read", **_READERS)
ANNUAL_READ = rule("assessment.annual.read", **_READERS)

ACTIONS = (ASSESSMENT_READ, ASSESSMENT_RATE, ASSESSMENT_FINALIZE, ASSESSMENT_CORRECT, ASSESSMENT_RESPOND,
           DISTRIBUTION_READ, WORKBENCH_READ, OBJECTION_DECIDE, OBSERVATION_READ, OBSERVATION_RECORD,
           REVIEW_READ, REVIEW_RECORD, RUBRIC_READ, DEADLINE_EXTEND, ORGANISATION_PREDIKAT_SET, RECAP_READ,
           ANGKA_KREDIT_READ, ANNUAL_READ)
