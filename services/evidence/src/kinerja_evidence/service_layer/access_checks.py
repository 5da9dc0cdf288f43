"""The shared access policy applied to this context's resources: a plan (and what hangs off it:
bukti, daily reports, competency records) lives in its teacher's school and district, is owned
by the teacher and assessed by the plan's assessor of record. The answers keep this context's
codes: 403 ``akses_ditolak`` for someone else's plan, 403 ``bukan_penilai`` for a PPK role that
is not this plan's assessor."""

from __future__ import annotations

from kinerja_shared import access
from kinerja_shared.auth import Principal
from kinerja_shared.errors import Forbidden

from kinerja_evidence.domain.model import AccessDenied, NotAssessor, PlanFacts


def on_plan(plan: PlanFacts) -> access.Resource:
    return access.Resource(npsn=getattr(plan, "school_npsn", None), region=plan.region,
                           owner_nip=plan.teacher_nip, assessor_nip=plan.assessor_nip)


def require_on_plan(caller: Principal, action: str, plan: PlanFacts,
                    refused: type[Forbidden] = AccessDenied) -> None:
    access.require_action(caller, action)
    if not access.allows(caller, action, on_plan(plan)):
        raise refused()


def require_assessor(caller: Principal, action: str, plan: PlanFacts) -> None:
    require_on_plan(caller, action, plan, NotAssessor)
