"""Daily activity reports (laporan harian) against the plan's monthly targets, reviewed by the
assessor a week at a time, and competency-development records with points, verified by the
assessor and totalled against the plan's target. Same rules as evidence: the owner writes,
the assessor reviews, nothing changes once the assessment is final; every transition is an
event in the same transaction."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from kinerja_shared.events.contracts import (
    CompetencyActivityRecorded,
    CompetencyActivityReviewed,
    DailyReportReviewed,
    DailyReportSubmitted,
)
from kinerja_shared import access
from kinerja_shared.access_rules import evidence as actions
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_evidence.adapters.tables import (
    CompetencyRecord,
    DailyReport,
    Evidence,
    MonthlyTargetView,
    PlanView,
)
from kinerja_evidence.domain.model import (
    ACTIVITY_TYPES,
    EVIDENCE_REJECTED,
    EVIDENCE_VERIFIED,
    REPORT_ACCEPTED,
    REPORT_NEEDS_FIX,
    REPORT_SUBMITTED,
    Caller,
    EvidenceNotOwnedForPlan,
    EvidenceReadOnly,
    NoteRequired,
    PlanItemNotFound,
    PlanNotFound,
    ReasonRequired,
    RecordNotFound,
    TargetNotFound,
    check_execution_window,
    check_plan_approved,
    check_points,
    check_report_date,
    invalid_input,
    today_in_jakarta,
)
from kinerja_evidence.service_layer.access_checks import require_assessor, require_on_plan
from kinerja_evidence.service_layer.periods import get_period, is_finalized
from kinerja_evidence.service_layer.plans import get_item, get_plan

MAX_TEXT = 4000


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _own_evidence(session: AsyncSession, plan: PlanView, evidence_ids: list[str]) -> None:
    for evidence_id in evidence_ids:
        row = await session.get(Evidence, evidence_id)
        if row is None or row.plan_id != plan.plan_id or row.teacher_nip != plan.teacher_nip:
            raise EvidenceNotOwnedForPlan(evidence_id)


async def _writable_plan(session: AsyncSession, caller: Caller, action: str, plan_id: str) -> PlanView:
    access.require_action(caller, action)
    plan = await get_plan(session, plan_id)
    check_plan_approved(plan)
    assert plan is not None
    require_on_plan(caller, action, plan)
    if await is_finalized(session, plan.period_id, plan.teacher_nip):
        raise EvidenceReadOnly()
    return plan


# ---------------------------------------------------------------- daily reports


async def submit_report(
    uow_factory: UnitOfWorkFactory, caller: Caller, *, plan_id: str, target_id: str,
    report_date: date, activity: str, evidence_ids: list[str], today: date | None = None,
) -> DailyReport:
    activity = activity.strip()
    if not activity or len(activity) > MAX_TEXT:
        raise invalid_input(f"wajib diisi, paling panjang {MAX_TEXT} karakter", "activity", "activity is required.")
    today = today or today_in_jakarta()
    async with uow_factory() as uow:
        plan = await _writable_plan(uow.session, caller, actions.DAILY_REPORT_WRITE, plan_id)
        target = await uow.session.get(MonthlyTargetView, (plan_id, target_id))
        if target is None:
            raise TargetNotFound(target_id)
        period = await get_period(uow.session, plan.period_id)
        if period is not None and period.closed_at is not None:
            check_execution_window(period, today)  # raises: closed
        check_report_date(report_date, today, period,
                          period.starts_on if period else None, period.ends_on if period else None, target.month)
        await _own_evidence(uow.session, plan, evidence_ids)
        report = DailyReport(
            report_id=str(uuid.uuid4()), plan_id=plan_id, period_id=plan.period_id,
            teacher_nip=plan.teacher_nip, school_npsn=plan.school_npsn, target_id=target_id,
            report_date=report_date, activity=activity, evidence_ids=json.dumps(evidence_ids),
        )
        uow.session.add(report)
        uow.publish(DailyReportSubmitted(
            report_id=report.report_id, plan_id=plan_id, period_id=plan.period_id,
            teacher_nip=plan.teacher_nip, school_npsn=plan.school_npsn, target_id=target_id,
            report_date=report_date, activity=activity, evidence_ids=evidence_ids, submitted_at=report.created_at,
        ), region=plan.region)
        await uow.commit()
        uow.session.expunge(report)
        return report


async def fix_report(
    uow_factory: UnitOfWorkFactory, caller: Caller, report_id: str, *, activity: str,
    evidence_ids: list[str],
) -> DailyReport:
    """The teacher revises a report the assessor asked to fix: it is submitted again."""
    activity = activity.strip()
    if not activity or len(activity) > MAX_TEXT:
        raise invalid_input(f"wajib diisi, paling panjang {MAX_TEXT} karakter", "activity", "activity is required.")
    access.require_action(caller, actions.DAILY_REPORT_WRITE)
    async with uow_factory() as uow:
        report = await uow.session.get(DailyReport, report_id, with_for_update=True)
        if report is None:
            raise RecordNotFound("Laporan harian")
        plan = await _writable_plan(uow.session, caller, actions.DAILY_REPORT_WRITE, report.plan_id)
        if report.status == REPORT_ACCEPTED:
            raise invalid_input("laporan yang sudah diterima tidak dapat diubah", "report_id", "accepted reports are final.")
        await _own_evidence(uow.session, plan, evidence_ids)
        report.activity, report.evidence_ids = activity, json.dumps(evidence_ids)
        report.status, report.updated_at = REPORT_SUBMITTED, _now()
        uow.session.add(report)
        uow.publish(DailyReportSubmitted(
            report_id=report.report_id, plan_id=report.plan_id, period_id=report.period_id,
            teacher_nip=report.teacher_nip, school_npsn=report.school_npsn, target_id=report.target_id,
            report_date=report.report_date, activity=activity, evidence_ids=evidence_ids, submitted_at=report.updated_at,
        ), region=plan.region)
        await uow.commit()
        uow.session.expunge(report)
        return report


async def review_reports(
    uow_factory: UnitOfWorkFactory, caller: Caller, *, plan_id: str, decision: str, note: str | None,
    week_of: date | None = None, report_ids: list[str] | None = None,
) -> list[DailyReport]:
    """Accept, or ask for a fix with a note, every submitted report of a plan in the week
    (Monday to Sunday) holding ``week_of``, or the listed reports. One event per report."""
    access.require_action(caller, actions.DAILY_REPORT_REVIEW)
    if decision not in (REPORT_ACCEPTED, REPORT_NEEDS_FIX):
        raise invalid_input("harus 'accepted' atau 'needs_fix'", "decision", "decision must be accepted or needs_fix.")
    note = (note or "").strip()
    if decision == REPORT_NEEDS_FIX and not note:
        raise NoteRequired()
    if week_of is None and not report_ids:
        raise invalid_input("isi week_of atau report_ids", "week_of", "week_of or report_ids is required.")
    async with uow_factory() as uow:
        plan = await get_plan(uow.session, plan_id)
        if plan is None:
            raise PlanNotFound()
        require_assessor(caller, actions.DAILY_REPORT_REVIEW, plan)
        if await is_finalized(uow.session, plan.period_id, plan.teacher_nip):
            raise EvidenceReadOnly()
        query = select(DailyReport).where(DailyReport.plan_id == plan_id, DailyReport.status == REPORT_SUBMITTED)
        if week_of is not None:
            monday = week_of - timedelta(days=week_of.weekday())
            query = query.where(DailyReport.report_date >= monday, DailyReport.report_date <= monday + timedelta(days=6))
        if report_ids:
            query = query.where(DailyReport.report_id.in_(report_ids))  # type: ignore[attr-defined]
        rows = list((await uow.session.exec(query.order_by(DailyReport.report_date).with_for_update())).all())
        now = _now()
        for report in rows:
            report.status, report.review_note = decision, note or None
            report.reviewed_by, report.reviewed_at, report.updated_at = caller.nip, now, now
            uow.session.add(report)
            uow.publish(DailyReportReviewed(
                report_id=report.report_id, plan_id=plan_id, period_id=report.period_id,
                teacher_nip=report.teacher_nip, school_npsn=report.school_npsn,
                report_date=report.report_date, decision=decision,  # type: ignore[arg-type]
                note=note, reviewed_by=caller.nip or "", reviewed_at=now,
            ), region=plan.region)
        await uow.commit()
        uow.session.expunge_all()
        return rows


async def list_reports(uow_factory: UnitOfWorkFactory, caller: Caller, plan_id: str) -> list[DailyReport]:
    access.require_action(caller, actions.DAILY_REPORT_READ)
    async with uow_factory() as uow:
        plan = await get_plan(uow.session, plan_id)
        if plan is None:
            raise PlanNotFound()
        require_on_plan(caller, actions.DAILY_REPORT_READ, plan)
        rows = list((await uow.session.exec(
            select(DailyReport).where(DailyReport.plan_id == plan_id).order_by(DailyReport.report_date, DailyReport.created_at)  # type: ignore[arg-type]
        )).all())
        uow.session.expunge_all()
        return rows


# ---------------------------------------------------------------- competency development


async def record_competency(
    uow_factory: UnitOfWorkFactory, caller: Caller, *, plan_id: str, item_id: str | None,
    activity_type: str, title: str, points: int, evidence_id: str, today: date | None = None,
) -> CompetencyRecord:
    if activity_type not in ACTIVITY_TYPES:
        raise invalid_input(f"salah satu dari {', '.join(ACTIVITY_TYPES)}", "activity_type", "unknown activity type.")
    title = title.strip()
    if not title or len(title) > 300:
        raise invalid_input("wajib diisi, paling panjang 300 karakter", "title", "title is required.")
    async with uow_factory() as uow:
        plan = await _writable_plan(uow.session, caller, actions.COMPETENCY_RECORD_WRITE, plan_id)
        if item_id and await get_item(uow.session, plan_id, item_id) is None:
            raise PlanItemNotFound(item_id)
        period = await get_period(uow.session, plan.period_id)
        check_execution_window(period, today or today_in_jakarta())
        check_points(points, period.competency_points_max_per_activity if period else None)
        await _own_evidence(uow.session, plan, [evidence_id])
        record = CompetencyRecord(
            record_id=str(uuid.uuid4()), plan_id=plan_id, period_id=plan.period_id,
            teacher_nip=plan.teacher_nip, school_npsn=plan.school_npsn, item_id=item_id,
            activity_type=activity_type, title=title, points=points, evidence_id=evidence_id,
        )
        uow.session.add(record)
        uow.publish(CompetencyActivityRecorded(
            record_id=record.record_id, plan_id=plan_id, period_id=plan.period_id, item_id=item_id,
            teacher_nip=plan.teacher_nip, school_npsn=plan.school_npsn, activity_type=activity_type,
            title=title, points=points, evidence_id=evidence_id, recorded_at=record.created_at,
        ), region=plan.region)
        await uow.commit()
        uow.session.expunge(record)
        return record


async def _verified_points(session: AsyncSession, period_id: str, teacher_nip: str) -> int:
    total = (await session.exec(
        select(func.coalesce(func.sum(CompetencyRecord.points), 0)).where(
            CompetencyRecord.period_id == period_id, CompetencyRecord.teacher_nip == teacher_nip,
            CompetencyRecord.status == EVIDENCE_VERIFIED,
        )
    )).one()
    return int(total)


async def review_competency(
    uow_factory: UnitOfWorkFactory, caller: Caller, record_id: str, decision: str, reason: str | None,
) -> CompetencyRecord:
    access.require_action(caller, actions.COMPETENCY_RECORD_REVIEW)
    if decision not in (EVIDENCE_VERIFIED, EVIDENCE_REJECTED):
        raise invalid_input("harus 'verified' atau 'rejected'", "decision", "decision must be verified or rejected.")
    reason = (reason or "").strip()
    if decision == EVIDENCE_REJECTED and not reason:
        raise ReasonRequired()
    async with uow_factory() as uow:
        record = await uow.session.get(CompetencyRecord, record_id, with_for_update=True)
        if record is None:
            raise RecordNotFound("Catatan pengembangan kompetensi")
        plan = await get_plan(uow.session, record.plan_id)
        if plan is None:
            raise PlanNotFound()
        require_assessor(caller, actions.COMPETENCY_RECORD_REVIEW, plan)
        if await is_finalized(uow.session, record.period_id, record.teacher_nip):
            raise EvidenceReadOnly()
        if record.status == decision and (record.review_reason or "") == reason:
            uow.session.expunge(record)
            return record
        now = _now()
        record.status, record.review_reason = decision, reason or None
        record.reviewed_by, record.reviewed_at = caller.nip, now
        uow.session.add(record)
        await uow.session.flush()
        total = await _verified_points(uow.session, record.period_id, record.teacher_nip)
        uow.publish(CompetencyActivityReviewed(
            record_id=record.record_id, plan_id=record.plan_id, period_id=record.period_id,
            teacher_nip=record.teacher_nip, school_npsn=record.school_npsn,
            decision=decision, reason=reason, points=record.points,  # type: ignore[arg-type]
            verified_points_total=total, reviewed_by=caller.nip or "", reviewed_at=now,
        ), region=plan.region)
        await uow.commit()
        uow.session.expunge(record)
        return record


async def competency_summary(uow_factory: UnitOfWorkFactory, caller: Caller, plan_id: str) -> dict:
    access.require_action(caller, actions.COMPETENCY_RECORD_READ)
    async with uow_factory() as uow:
        plan = await get_plan(uow.session, plan_id)
        if plan is None:
            raise PlanNotFound()
        require_on_plan(caller, actions.COMPETENCY_RECORD_READ, plan)
        rows = list((await uow.session.exec(
            select(CompetencyRecord).where(CompetencyRecord.plan_id == plan_id).order_by(CompetencyRecord.created_at)  # type: ignore[arg-type]
        )).all())
        period = await get_period(uow.session, plan.period_id)
        verified = await _verified_points(uow.session, plan.period_id, plan.teacher_nip)
        uow.session.expunge_all()
    minimum = period.competency_points_min if period else 32
    maximum = period.competency_points_max if period else 128
    return {
        "records": rows,
        "verified_points": verified,
        "planned_points": plan.competency_points,
        "points_min": minimum,
        "points_max": maximum,
        "points_max_per_activity": period.competency_points_max_per_activity if period else None,
        "meets_minimum": verified >= minimum,
        "meets_plan": verified >= plan.competency_points if plan.competency_points else verified >= minimum,
    }
