"""Periodic reviews by the PPK under a policy that has them (ruang-gtk-2025)."""

from __future__ import annotations

from kinerja_shared import access
from kinerja_shared.access_rules import assessment as actions
from kinerja_shared.auth import Principal
from kinerja_shared.clock import Clock, jakarta_date
from kinerja_shared.errors import Conflict
from kinerja_shared.events.contracts import PeriodicReviewRecorded
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory
from sqlmodel import select

from kinerja_assessment.adapters.tables import PeriodicReview, PeriodView
from kinerja_assessment.domain import assessment as assessment_rules
from kinerja_assessment.domain import reviews as rules
from kinerja_assessment.domain.corrections import require_reason
from kinerja_assessment.domain.policy import policy_for
from kinerja_assessment.service_layer.assessments import load, require_assessor, resource


async def reviews_of(uow: UnitOfWork, assessment_id: str) -> list[dict]:
    rows = (await uow.session.exec(
        select(PeriodicReview).where(PeriodicReview.assessment_id == assessment_id).order_by(PeriodicReview.review)
    )).all()
    return [{"review": r.review, "progress": r.progress, "feedback": r.feedback, "reviewed_by": r.reviewed_by,
             "reviewed_at": r.reviewed_at.isoformat()} for r in rows]


async def record_review(
    uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str, clock: Clock, *,
    review: object, progress: object, feedback: object,
) -> dict:
    rating = rules.parse_progress(progress)
    text = require_reason(feedback, "feedback")
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        await require_assessor(uow, principal, actions.REVIEW_RECORD, a)
        assessment_rules.ensure_open(a.status)
        period = await uow.session.get(PeriodView, a.period_id)
        policy = policy_for(period.policy if period else None)
        rules.ensure_policy_has_reviews(policy.periodic_reviews and period is not None, policy.code)
        now = clock.now()
        key = rules.parse_review(review, period.year, period.month_start, period.month_end, jakarta_date(now))
        if await uow.session.get(PeriodicReview, (a.assessment_id, key)) is not None:
            raise Conflict("peninjauan_sudah_dicatat", f"Peninjauan {key} sudah dicatat.",
                           f"Review {key} was already recorded.")
        uow.session.add(PeriodicReview(assessment_id=a.assessment_id, review=key, progress=rating.value,
                                       feedback=text, reviewed_by=principal.nip or "", reviewed_at=now))
        uow.publish(PeriodicReviewRecorded(
            assessment_id=a.assessment_id, teacher_nip=a.teacher_nip, school_npsn=a.school_npsn, review=key,
            progress=rating.value, feedback=text, reviewed_by=principal.nip or "", reviewed_at=now,
        ), region=a.region)
        await uow.commit()
        return {"assessment_id": a.assessment_id, "reviews": await reviews_of(uow, a.assessment_id)}


async def list_reviews(uow_factory: UnitOfWorkFactory, principal: Principal, assessment_id: str) -> dict:
    async with uow_factory() as uow:
        a = await load(uow, assessment_id)
        access.require(principal, actions.REVIEW_READ, resource(a))
        return {"assessment_id": a.assessment_id, "reviews": await reviews_of(uow, a.assessment_id)}
