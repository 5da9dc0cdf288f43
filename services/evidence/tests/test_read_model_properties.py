"""Property tests (issue 10): the evidence service's read models of other contexts' events
reach the same state for any order and interleaving of those events.

Each example generates a small history as planning and assessment would publish it: plans of
one or two teachers submitted, returned and submitted again in a new revision, approved; a
period opened, its schedule changed, its execution stage started, the period closed; an
assessment finalized and maybe corrected (finalized again, later). It is applied in publish
order one at a time (the natural order), then in a generated permutation with 2-4 applies at
once and random redeliveries, through the consumers' own ``apply``
(kinerja_shared.testing.projections), and the read-model tables are compared.

One migrated database per test (SQLite, then PostgreSQL), emptied between runs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinerja_shared.events import (
    AssessmentFinalized, MonthlyTarget, PeriodClosed, PeriodOpened, PeriodScheduleChanged, PeriodStage,
    PeriodStageStarted, PersonRef, PlanApproved, PlanItem, PlanReturned, PlanSubmitted,
)
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.testing.projections import History, Rig, assert_same_state, property_settings, same_state_in_any_order

from kinerja_evidence.adapters.tables import (
    TABLES, FinalizedAssessment, MonthlyTargetView, PeriodView, PlanItemView, PlanView,
)
from kinerja_evidence.entrypoints.handlers import (
    ASSESSMENT_CONSUMER, ASSESSMENT_HANDLERS, PERIOD_HANDLERS, PERIODS_CONSUMER, PLANNING_CONSUMER,
    PLANNING_HANDLERS,
)
from kinerja_evidence.migrations import LOCATION as MIGRATIONS
from kinerja_evidence.settings import Settings

NPSN, REGION = "20212345", "020500"
KS = "197204151998022001"
TEACHERS = ["198503122010012001", "198711052011011002"]
PERIOD = "periode-2026-1"
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)

# updated_at is stamped with the clock each time a row is written: when, not what.
EXCLUDE = {"evidence_plan_views": {"updated_at"}, "evidence_period_views": {"updated_at"}}
COMPARED = [t.__table__ for t in (PlanView, PlanItemView, MonthlyTargetView, PeriodView, FinalizedAssessment)]

PROPERTY = property_settings(max_examples=40)


@pytest.fixture
async def rig(database_url):
    settings_ = Settings(database_url=database_url)
    runtime = ServiceRuntime(settings_, tables=TABLES, migrations=MIGRATIONS)
    rig = await Rig.start(
        runtime,
        [(PLANNING_CONSUMER, PLANNING_HANDLERS), (PERIODS_CONSUMER, PERIOD_HANDLERS),
         (ASSESSMENT_CONSUMER, ASSESSMENT_HANDLERS)],
        COMPARED, EXCLUDE,
    )
    yield rig
    await rig.stop()




def _items(revision: int) -> list[PlanItem]:
    return [PlanItem(item_id=f"pk-{n}", kind="praktik_kinerja", code=f"D.1.{n}", title=f"Praktik {n} (rev {revision})")
            for n in range(1, 2 + revision)]


def _targets(revision: int) -> list[MonthlyTarget]:
    return [MonthlyTarget(target_id=f"tk-{m}", month=f"2026-{m:02d}", item_id="pk-1", description=f"rev {revision}")
            for m in range(2, 3 + revision)]


def _stages(shift: int) -> list[PeriodStage]:
    def d(month: int, day: int) -> date:
        return date(2026, month, day) + timedelta(days=shift)
    return [PeriodStage(stage="perencanaan", starts_on=d(1, 1), ends_on=d(1, 31)),
            PeriodStage(stage="pelaksanaan", starts_on=d(2, 1), ends_on=d(5, 31)),
            PeriodStage(stage="penilaian", starts_on=d(6, 1), ends_on=d(6, 28))]


def _person(nip: str, role: str = "guru") -> PersonRef:
    return PersonRef(nip=nip, name=f"Orang {nip[-4:]}", role=role, jabatan="Guru Kelas", jenjang="Ahli Muda",
                     golongan="III/b", assessor_nip=KS if role == "guru" else None)


@st.composite
def history(draw) -> History:
    timeline = []  # (time, publish sequence, contract); a sequence keeps causes before effects

    def at_(minutes_after: datetime, lo: int = 1, hi: int = 60) -> datetime:
        return minutes_after + timedelta(minutes=draw(st.integers(lo, hi)))

    # The period: opened, then (in time order) schedule changes, the execution stage, the close.
    t = T0
    period_stages = draw(st.sampled_from([_stages(0), []]))  # opened with or without its stages
    timeline.append((t, PeriodOpened(period_id=PERIOD, policy="pmm-2024", year=2026, semester=1, name="Semester 1",
                                     starts_on=date(2026, 1, 1), ends_on=date(2026, 6, 30), month_start=1, month_end=6,
                                     stages=period_stages)))
    for shift in draw(st.lists(st.integers(1, 9), max_size=2)):
        t = at_(t)
        timeline.append((t, PeriodScheduleChanged(period_id=PERIOD, stages=_stages(shift), changed_by="dinas",
                                                  changed_at=t)))
    if draw(st.booleans()):
        t = at_(t)
        stage = _stages(draw(st.integers(0, 9)))[1]
        timeline.append((t, PeriodStageStarted(period_id=PERIOD, stage="pelaksanaan", starts_on=stage.starts_on,
                                               ends_on=stage.ends_on, started_at=t)))
    if draw(st.booleans()):
        t = at_(t)
        timeline.append((t, PeriodClosed(period_id=PERIOD, closed_at=t)))

    # Plans: submitted, returned and submitted again in the next revision, approved (or not yet).
    for nip in TEACHERS[: draw(st.integers(1, 2))]:
        plan_id, t = f"plan-{nip[-4:]}", at_(T0, 0, 30)
        common = dict(plan_id=plan_id, period_id=PERIOD, teacher_nip=nip, school_npsn=NPSN)
        revision = 1
        returns = draw(st.integers(0, 2))
        for revision in range(1, returns + 2):
            timeline.append((t, PlanSubmitted(**common, assessor_nip=KS, indicators=["D.1.1"], items=_items(revision),
                                              monthly_targets=_targets(revision), revision=revision, submitted_at=t)))
            t = at_(t)
            if revision <= returns:
                timeline.append((t, PlanReturned(**common, revision=revision, reason="lengkapi", returned_by=KS,
                                                 returned_at=t)))
                t = at_(t)
        outcome = draw(st.sampled_from(["approved", "returned", "waiting"]))
        if outcome == "returned":  # returned again, not yet submitted again
            timeline.append((t, PlanReturned(**common, revision=revision, reason="lengkapi", returned_by=KS,
                                             returned_at=t)))
        if outcome == "approved":
            timeline.append((t, PlanApproved(**common, assessor_nip=KS, indicators=["D.1.1"], items=_items(revision),
                                             monthly_targets=_targets(revision), revision=revision, approved_by=KS,
                                             approved_at=t)))
            t = at_(t)
            # The assessment finalized, and maybe corrected later (finalized again, version 2).
            if draw(st.booleans()):
                for version in range(1, draw(st.integers(1, 2)) + 1):
                    timeline.append((t, AssessmentFinalized(
                        assessment_id=f"asm-{nip[-4:]}", assessment_version=version, plan_id=plan_id, period_id=PERIOD,
                        year=2026, month_start=1, month_end=6, school_npsn=NPSN, teacher=_person(nip),
                        assessor=_person(KS, "kepala_sekolah"), assessor_unit="SD Negeri 1",
                        rating_hasil_kerja="SESUAI", rating_perilaku_kerja="SESUAI", predikat="BAIK", predikat_code=3,
                        finalized_at=t, corrects_version=version - 1 or None,
                        correction_reason="koreksi" if version > 1 else None)))
                    t = at_(t)
    h = History()
    for at, contract in sorted(timeline, key=lambda e: e[0]):  # stable: same-time events keep their order
        h.add(contract, at)
    return h


@PROPERTY
@given(history=history(), data=st.data())
async def test_plans_periods_and_finalized_in_any_order(rig, history, data):
    await same_state_in_any_order(rig, history.events, data)


# --- the minimal failing examples the property found, kept as plain regression tests ----------


async def _assert_orders_agree(rig: Rig, h: History, order: list[int]) -> None:
    natural = await rig.state_after(h.events)
    assert_same_state(natural, await rig.state_after(h.events, order=order))


async def test_a_return_overtaking_its_submission_keeps_the_revisions_items(rig):
    # Found by the property test: PlanReturned (no items) applied before the PlanSubmitted of the
    # same revision left the plan without items and monthly targets.
    h, t = History(), T0
    common = dict(plan_id="plan-1", period_id=PERIOD, teacher_nip=TEACHERS[0], school_npsn=NPSN)
    h.add(PlanSubmitted(**common, assessor_nip=KS, indicators=["D.1.1"], items=_items(1), monthly_targets=_targets(1),
                        revision=1, submitted_at=t), t)
    t += timedelta(minutes=5)
    h.add(PlanReturned(**common, revision=1, reason="lengkapi", returned_by=KS, returned_at=t), t)
    await _assert_orders_agree(rig, h, [1, 0])


async def test_a_correction_overtaking_the_finalisation_keeps_the_first_time(rig):
    # Found by the property test: the correction (finalized again, later) applied first kept its
    # time; in publish order the first finalisation's time is kept.
    h, t = History(), T0
    for version in (1, 2):
        t += timedelta(minutes=5)
        h.add(AssessmentFinalized(
            assessment_id="asm-1", assessment_version=version, plan_id="plan-1", period_id=PERIOD, year=2026,
            month_start=1, month_end=6, school_npsn=NPSN, teacher=_person(TEACHERS[0]),
            assessor=_person(KS, "kepala_sekolah"), assessor_unit="SD Negeri 1", rating_hasil_kerja="SESUAI",
            rating_perilaku_kerja="SESUAI", predikat="BAIK", predikat_code=3, finalized_at=t,
            corrects_version=version - 1 or None), t)
    await _assert_orders_agree(rig, h, [1, 0])
