"""Who may do what in planning (the roster, periods, priorities, plans and their reports).

Resources: a school (``npsn``, ``region`` = its district), a person (their school and district),
a plan (its school and district, ``owner_nip`` = the teacher, ``assessor_nip`` = their PPK).
A period has no school or district: it is the deployment's calendar, placed at the region
``KINERJA_PERIOD_REGION`` names (see docs/api.md, Who may do what).
"""

from kinerja_shared.access import rule

# Read by anyone signed in: the policies and rubric a period is made from, and the calendar.
_EVERYONE = {role: "all" for role in (
    "guru", "kepala_sekolah", "pengawas", "dinas", "operator_sekolah", "operator_dinas", "sistem",
)}
_DINAS = {"dinas": "region", "operator_dinas": "region", "sistem": "all"}

POLICIES_READ = rule("planning.policies.read", **_EVERYONE)
PERIOD_READ = rule("planning.period.read", **_EVERYONE)
# Create, move the windows of, open and close a period.
PERIOD_MANAGE = rule("planning.period.manage", **_DINAS)

# Import a roster: every school the file lists, and every person it moves from another school,
# must be in the importer's scope (an operator sekolah: their school only).
ROSTER_IMPORT = rule("planning.roster.import", operator_sekolah="school", **_DINAS)
# A school's people, with NIK and NUPTK.
PEOPLE_READ = rule("planning.people.read", kepala_sekolah="school", operator_sekolah="school", **_DINAS)
READINESS_READ = rule("planning.readiness.read", kepala_sekolah="school", operator_sekolah="school", **_DINAS)
DISTRICT_READINESS_READ = rule("planning.district_readiness.read", **_DINAS)

# Rapor Pendidikan priorities: set by the school's principal; read by the school's people (the
# guru choose from them), the pengawas who assesses its principal, and the Dinas.
PRIORITIES_SET = rule("planning.priorities.set", kepala_sekolah="school")
PRIORITIES_READ = rule(
    "planning.priorities.read", guru="school", kepala_sekolah="school", operator_sekolah="school",
    pengawas="assessor", **_DINAS,
)

# Plans (SKP): a guru or kepala sekolah writes their own; their assessor agrees or returns it.
PLAN_CREATE = rule("planning.plan.create", guru="self", kepala_sekolah="self")
PLAN_EDIT = rule("planning.plan.edit", guru="self", kepala_sekolah="self")  # save a step, submit
PLAN_REVIEW = rule("planning.plan.review", kepala_sekolah="assessor", pengawas="assessor")  # and the inbox
PLAN_READ = rule(
    "planning.plan.read", guru="self", kepala_sekolah=("self", "assessor", "school"),
    pengawas="assessor", **_DINAS,
)
COMPLETION_READ = rule("planning.completion.read", kepala_sekolah="school", operator_sekolah="school", **_DINAS)
DISTRICT_COMPLETION_READ = rule("planning.district_completion.read", **_DINAS)

ACTIONS = (
    POLICIES_READ, PERIOD_READ, PERIOD_MANAGE, ROSTER_IMPORT, PEOPLE_READ, READINESS_READ,
    DISTRICT_READINESS_READ, PRIORITIES_SET, PRIORITIES_READ, PLAN_CREATE, PLAN_EDIT, PLAN_REVIEW,
    PLAN_READ, COMPLETION_READ, DISTRICT_COMPLETION_READ,
)
