"""The PPK's one view of an assessment: the observation, verified competency points against the
target, every piece of evidence with its verification state and reuse flag, daily-report review
states, the deadline, the angka kredit the current ratings would give and the distribution
warning. Everything from this service's own read models."""

from __future__ import annotations

import json

from kinerja_shared.access_rules import assessment as actions
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock, batas_waktu, jakarta_date
from kinerja_shared.uow import UnitOfWorkFactory
from sqlmodel import select

from kinerja_assessment.adapters.tables import EvidenceView, PeriodView, RosterPerson
from kinerja_assessment.domain import angka_kredit as ak
from kinerja_assessment.domain import windows
from kinerja_assessment.domain.policy import policy_for
from kinerja_assessment.service_layer.assessments import (
    distribution_for, extension_until, load, predikat_of, require_ppk_view, view, window_of,
)
from kinerja_assessment.service_layer.daily_reports import daily_reports_of
from kinerja_assessment.service_layer.observations import observation_view
from kinerja_assessment.service_layer.read_model import DELETED, VERIFIED
from kinerja_assessment.service_layer.reviews import reviews_of


async def workbench(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str, clock: Clock, *,
                    notes_limit: int = 10, notes_offset: int = 0) -> dict:
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        require_ppk_view(principal, actions.WORKBENCH_READ, a)
        period = await uow.session.get(PeriodView, a.period_id)
        teacher = await uow.session.get(RosterPerson, a.teacher_nip)
        evidence = (await uow.session.exec(
            select(EvidenceView).where(EvidenceView.plan_id == a.plan_id).order_by(EvidenceView.evidence_id)
        )).all()
        items = json.loads(a.plan_items or "[]")
        competency = [i for i in items if i.get("kind") == "pengembangan_kompetensi"]
        verified_items = {e.item_id for e in evidence if e.status == VERIFIED and e.item_id}
        states: dict[str, int] = {}
        for e in evidence:
            states[e.status] = states.get(e.status, 0) + 1
        predikat = predikat_of(a)
        jenjang = ak.jenjang_of(teacher.jenjang if teacher else None)
        deadline = None
        if period is not None:
            window = window_of(period)
            extended = await extension_until(uow, a.period_id, a.school_npsn, a.region)
            last = windows.deadline(window, extended)
            today = jakarta_date(clock.now())
            deadline = {
                "penilaian_starts_on": window.starts_on.isoformat(), "penilaian_ends_on": window.ends_on.isoformat(),
                "extended_until": extended.isoformat() if extended else None, "deadline": last.isoformat(),
                "deadline_label": batas_waktu(last), "open_now": window.starts_on <= today <= last,
            }
        return {
            "assessment": await view(uow, a),
            "observation": {**await observation_view(uow, a),
                            "required": policy_for(period.policy if period else None).observation_required},
            "competency": {
                "target_points": period.competency_points_min if period else None,
                "planned_points": sum(int(i.get("points", 0)) for i in competency),
                "verified_points": sum(int(i.get("points", 0)) for i in competency if i["item_id"] in verified_items),
                "items": [{"item_id": i["item_id"], "code": i.get("code"), "title": i.get("title"),
                           "points": i.get("points", 0), "verified": i["item_id"] in verified_items} for i in competency],
            },
            "evidence": {
                "by_status": states,
                "reuse_flagged": sum(1 for e in evidence if e.reuse_flagged and e.status != DELETED),
                "items": [{"evidence_id": e.evidence_id, "item_id": e.item_id, "file_name": e.file_name,
                           "status": e.status, "status_note": e.status_note, "reuse_flagged": e.reuse_flagged,
                           "reuse_of": json.loads(e.reuse_of or "[]"), "uploaded": e.uploaded} for e in evidence],
            },
            "daily_reports": await daily_reports_of(uow, a, period, notes_limit=notes_limit,
                                                    notes_offset=notes_offset),
            "deadline": deadline,
            "periodic_reviews": await reviews_of(uow, a.assessment_id),
            "angka_kredit_preview": (
                str(ak.angka_kredit(ak.months_of(period.month_start, period.month_end), predikat, jenjang))
                if predikat and jenjang and period else None
            ),
            "distribution": await distribution_for(uow, a, predikat if a.status == "open" else None),
        }
