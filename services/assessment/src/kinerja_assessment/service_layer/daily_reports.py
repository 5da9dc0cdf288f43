"""The daily reports (laporan harian) of one teacher in one period, for the PPK's workbench:
counts by review state, per month against the plan's monthly targets, and the latest
"perlu perbaikan" notes, a page at a time. Two small queries on the (period, teacher) index:
one grouped count, one page of notes; no report is loaded one by one."""

from __future__ import annotations

import json

from kinerja_shared.uow import UnitOfWork
from sqlalchemy import func
from sqlmodel import select

from kinerja_assessment.adapters.tables import Assessment, DailyReportView, PeriodView
from kinerja_assessment.domain import daily_reports as rules


async def daily_reports_of(uow: UnitOfWork, a: Assessment, period: PeriodView | None, *,
                           notes_limit: int, notes_offset: int) -> dict:
    mine = (DailyReportView.period_id == a.period_id, DailyReportView.teacher_nip == a.teacher_nip)
    grouped = (await uow.session.exec(
        select(DailyReportView.report_month, DailyReportView.target_id, DailyReportView.status, func.count())
        .where(*mine)
        .group_by(DailyReportView.report_month, DailyReportView.target_id, DailyReportView.status)
    )).all()
    counts = [rules.ReportCount(month, target_id, status, n) for month, target_id, status, n in grouped]
    targets = json.loads(a.monthly_targets or "[]")
    months = rules.period_months(period.year, period.month_start, period.month_end) if period else []
    noted = (*mine, DailyReportView.fix_at.is_not(None))  # type: ignore[union-attr]
    notes_total = (await uow.session.exec(select(func.count()).select_from(DailyReportView).where(*noted))).one()
    notes = (await uow.session.exec(
        select(DailyReportView).where(*noted)
        .order_by(DailyReportView.fix_at.desc(), DailyReportView.report_id)  # type: ignore[union-attr]
        .offset(notes_offset).limit(notes_limit)
    )).all()
    return {
        "available": True,
        "states": rules.LABELS,
        # Plans approved before this service kept monthly targets show counts without them.
        "targets_known": bool(targets),
        **rules.summarize(months, targets, counts),
        "needs_fix_notes": {
            "total": notes_total, "limit": notes_limit, "offset": notes_offset,
            "items": [{
                "report_id": r.report_id, "report_date": r.report_date.isoformat(), "target_id": r.target_id,
                "note": r.fix_note or "", "reviewed_by": r.fix_by, "reviewed_at": r.fix_at.isoformat() if r.fix_at else None,
                "status": r.status, "status_label": rules.LABELS.get(r.status, r.status),
                # Still waiting for the teacher's fix (otherwise resubmitted or since accepted).
                "awaiting_fix": r.status == rules.NEEDS_FIX,
            } for r in notes],
        },
    }
