"""Property test (issue 10): ekinerja-sync's read models of planning (people, schools, periods)
and the SKP sync records made from agreed plans reach the same state for any order and
interleaving of planning's events.

Each example: a roster, a period, plan approvals of two or three teachers (some approved again
in a later revision), and a roster re-import that adds a teacher missing from the first (whose
plan waits, parked, until then); applied in publish order one at a time, then in a generated
permutation with 2-4 applies at once and redeliveries, through the consumer's own ``apply``
(kinerja_shared.testing.projections). Only the handlers run: the sync worker (which sends to
e-Kinerja) does not. After the events, ``recheck_waiting`` runs once, as its background loop
would: it is the designed catch for a plan parked at the same moment as the roster or period
that resolves it was applied by another transaction (neither saw the other, PostgreSQL).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from kinerja_shared.events import PeriodOpened, PersonRef, PlanApproved, PlanItem, RosterImported, SchoolRef
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.testing.projections import History, Rig, assert_same_state, deliver, property_settings, reset, snapshot

from kinerja_ekinerja_sync.adapters.tables import TABLES, PeriodView, PersonView, SchoolView, SyncRecord
from kinerja_ekinerja_sync.domain import model
from kinerja_ekinerja_sync.entrypoints.handlers import PLANNING_CONSUMER, PLANNING_HANDLERS
from kinerja_ekinerja_sync.migrations import LOCATION as MIGRATIONS
from kinerja_ekinerja_sync.service_layer.intake import recheck_waiting
from kinerja_ekinerja_sync.settings import Settings

NPSN, REGION = "20212345", "020500"
KS = "197204151998022001"
TEACHERS = ["198503122010012001", "198711052011011002", "199002202015041001"]
PERIOD = "periode-2026-1"
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)
COMPARED = [t.__table__ for t in (PersonView, SchoolView, PeriodView)]

PROPERTY = property_settings(max_examples=25)


@pytest.fixture
async def rig(database_url):
    runtime = ServiceRuntime(Settings(database_url=database_url), tables=TABLES, migrations=MIGRATIONS)
    rig = await Rig.start(runtime, [(PLANNING_CONSUMER, PLANNING_HANDLERS)], COMPARED)
    yield rig
    await rig.stop()




def _roster(nips: list[str]) -> RosterImported:
    people = [PersonRef(nip=KS, name="Siti Rahmawati", role="kepala_sekolah", jabatan="Kepala Sekolah",
                        jenjang="Ahli Madya", golongan="IV/a", assessor_nip="196805141993031002")]
    people += [PersonRef(nip=nip, name=f"Guru {nip[-4:]}", role="guru", jabatan="Guru Kelas", jenjang="Ahli Muda",
                         golongan="III/b", assessor_nip=KS) for nip in nips]
    return RosterImported(import_id=f"import-{len(nips)}", people=people,
                          school=SchoolRef(npsn=NPSN, name="SD Negeri 1 Cibinong", region=REGION))


@st.composite
def history(draw) -> History:
    timeline = []
    nips = TEACHERS[: draw(st.integers(2, 3))]
    late = nips[-1] if draw(st.booleans()) else None  # missing from the first roster, added by the re-import
    t = T0
    timeline.append((t, "roster", _roster([n for n in nips if n != late])))
    t += timedelta(minutes=draw(st.integers(1, 60)))
    timeline.append((t, "period", PeriodOpened(
        period_id=PERIOD, policy="pmm-2024", year=2026, semester=1, name="Semester 1 2026", starts_on=date(2026, 1, 1),
        ends_on=date(2026, 6, 30), month_start=1, month_end=6)))
    for nip in nips:
        at = T0 + timedelta(minutes=draw(st.integers(0, 120)))
        for revision in range(1, draw(st.integers(1, 2)) + 1):
            at += timedelta(minutes=draw(st.integers(1, 60)))
            timeline.append((at, "plan", PlanApproved(
                plan_id=f"plan-{nip[-4:]}", period_id=PERIOD, teacher_nip=nip, school_npsn=NPSN, assessor_nip=KS,
                indicators=["D.1.1"], revision=revision, approved_by=KS, approved_at=at,
                items=[PlanItem(item_id="pk-1", kind="praktik_kinerja", code="D.1.1", title=f"Praktik (rev {revision})")])))
    if late:
        timeline.append((T0 + timedelta(minutes=draw(st.integers(1, 240))), "reimport", _roster(nips)))
    h = History()
    for at, _kind, contract in sorted(timeline, key=lambda e: e[0]):
        h.add(contract, at)
    return h


async def _state(rig: Rig, events, **options) -> tuple[dict, dict]:
    await reset(rig.runtime.engine, rig.runtime.tables)
    await deliver(rig.consumers, events, **options)
    await recheck_waiting(rig.runtime.uow)
    tables = await snapshot(rig.runtime.session_factory, rig.compared)
    async with rig.runtime.session_factory() as session:
        records = (await session.exec(select(SyncRecord))).all()
    newest: dict[str, SyncRecord] = {}
    for r in records:
        if r.assessment_id not in newest or r.assessment_version > newest[r.assessment_id].assessment_version:
            newest[r.assessment_id] = r
    # Order-independent: which (kind, key, version) exist, and the newest version of each key -
    # its status and payload (what the worker will send). An OLDER revision legitimately depends
    # on the order: applied before the newer one it is recorded "pending" (or "parked") and the
    # newer one supersedes it when sent; applied after it, it is recorded "superseded" at once.
    # What matters is that it is never the one sent: it is not newer than the newest.
    versions = sorted((r.kind, r.assessment_id, r.assessment_version) for r in records)
    newest_state = sorted((r.kind, r.assessment_id, r.assessment_version, r.status, r.payload) for r in newest.values())
    older = [r for r in records if r is not newest[r.assessment_id]]
    assert all(r.status in (model.PENDING, model.PARKED, model.SUPERSEDED) for r in older), \
        [(r.assessment_id, r.assessment_version, r.status) for r in older]
    return tables, {"versions": versions, "newest": newest_state}


@PROPERTY
@given(history=history(), data=st.data())
async def test_people_periods_and_skp_records_in_any_order(rig, history, data):
    events = history.events
    natural_tables, natural_records = await _state(rig, events)
    assert all(status == model.PENDING for *_k, status, _p in natural_records["newest"]), natural_records
    order = data.draw(st.permutations(range(len(events))), label="order")
    concurrency = data.draw(st.integers(2, 4), label="concurrency")
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    tables, records = await _state(rig, events, order=order, concurrency=concurrency, duplicate_chance=0.25, rng=rng)
    assert_same_state(natural_tables, tables, f"(order {order}, concurrency {concurrency})")
    assert records == natural_records, f"sync records differ (order {order}, concurrency {concurrency})"
