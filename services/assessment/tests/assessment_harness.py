"""Test support: the assessment service in-process against real NATS JetStream and a real
database (SQLite, then PostgreSQL), and the planning/evidence events it consumes, published to
the streams as envelopes with fresh Nats-Msg-Ids (a unique module name: every service's tests
share one pytest session)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlmodel import select

from kinerja_shared.events import (
    EvidenceUploaded,
    MonthlyTarget,
    PeriodOpened,
    PeriodStage,
    PlanItem,
    PersonRef,
    PlanApproved,
    RosterImported,
    SchoolRef,
    make_envelope,
)
from kinerja_shared.messaging.inbox import InboxMessage
from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.testing.http import bearer
from kinerja_shared.testing.wait import eventually

NPSN, REGION = "20212345", "020500"
KS, GURU, GURU2 = "197204151998022001", "198503122010012001", "198711052011011002"
KS_AUTH = bearer("kepala_sekolah", nip=KS, npsn=NPSN)


def roster(assessor_of_guru: str = KS, extra: tuple[PersonRef, ...] = ()) -> RosterImported:
    return RosterImported(
        import_id=str(uuid.uuid4()),
        school=SchoolRef(npsn=NPSN, name="SD Negeri 1 Cibinong", region=REGION),
        people=[
            PersonRef(nip=KS, name="Siti Rahmawati", role="kepala_sekolah", jabatan="Kepala Sekolah",
                      jenjang="Ahli Madya", golongan="IV/a", assessor_nip="196805141993031002"),
            PersonRef(nip=GURU, name="Dewi Lestari", role="guru", jabatan="Guru Kelas",
                      jenjang="Ahli Muda", golongan="III/c", assessor_nip=assessor_of_guru),
            PersonRef(nip=GURU2, name="Agus Salim", role="guru", jabatan="Guru Kelas",
                      jenjang="Ahli Pertama", golongan="III/b", assessor_nip=KS),
            *extra,
        ],
    )


STAGES = [PeriodStage(stage="perencanaan", starts_on="2026-01-01", ends_on="2026-01-31"),
          PeriodStage(stage="pelaksanaan", starts_on="2026-02-01", ends_on="2026-05-31"),
          PeriodStage(stage="penilaian", starts_on="2026-06-01", ends_on="2026-06-30")]


def period(period_id: str, policy: str = "pmm-2024", semester: int | None = 1) -> PeriodOpened:
    if semester == 2:
        stages = [PeriodStage(stage="perencanaan", starts_on="2026-07-01", ends_on="2026-07-31"),
                  PeriodStage(stage="pelaksanaan", starts_on="2026-08-01", ends_on="2026-11-30"),
                  PeriodStage(stage="penilaian", starts_on="2026-12-01", ends_on="2026-12-31")]
        return PeriodOpened(period_id=period_id, policy=policy, year=2026, semester=2, name="Semester 2 2026",
                            starts_on="2026-07-01", ends_on="2026-12-31", month_start=7, month_end=12, stages=stages)
    if semester is None:
        return PeriodOpened(period_id=period_id, policy=policy, year=2026, semester=None, name="Tahunan 2026",
                            starts_on="2026-01-01", ends_on="2026-12-31", month_start=1, month_end=12,
                            stages=[PeriodStage(stage="penilaian", starts_on="2026-12-01", ends_on="2026-12-31")])
    return PeriodOpened(period_id=period_id, policy=policy, year=2026, semester=1, name="Semester 1 2026",
                        starts_on="2026-01-01", ends_on="2026-06-30", month_start=1, month_end=6, stages=STAGES)


ITEMS = [
    PlanItem(item_id="pk-1", kind="praktik_kinerja", code="D.1.1", title="Manajemen kelas / disiplin positif",
             focus_behaviours=["Manajemen kelas", "Disiplin positif"]),
    PlanItem(item_id="kom-1", kind="pengembangan_kompetensi", code="pelatihan", title="Pelatihan", points=20),
    PlanItem(item_id="kom-2", kind="pengembangan_kompetensi", code="komunitas_belajar", title="Kombel", points=16),
]


def approved(plan_id: str, period_id: str, nip: str = GURU, assessor: str = KS,
             plan_kind: str = "guru", npsn: str = NPSN, monthly_targets: tuple[MonthlyTarget, ...] = ()) -> PlanApproved:
    return PlanApproved(plan_id=plan_id, period_id=period_id, teacher_nip=nip, school_npsn=npsn,
                        assessor_nip=assessor, indicators=["D.1.1"], revision=1, approved_by=assessor,
                        plan_kind=plan_kind, items=ITEMS, monthly_targets=list(monthly_targets),
                        approved_at=datetime.now(timezone.utc))


def uploaded(plan_id: str, period_id: str, evidence_id: str | None = None) -> EvidenceUploaded:
    return EvidenceUploaded(evidence_id=evidence_id or str(uuid.uuid4()), plan_id=plan_id, period_id=period_id,
                            teacher_nip=GURU, school_npsn=NPSN, sha256="a" * 64, size_bytes=10,
                            content_type="application/pdf", file_name="x.pdf",
                            uploaded_at=datetime.now(timezone.utc))


async def publish(js, contract, msg_id: str | None = None):
    envelope = make_envelope(contract, producer="test", region=REGION, correlation_id="test-corr")
    await js.publish(envelope.subject(), envelope.model_dump_json().encode(),
                     headers={"Nats-Msg-Id": msg_id or envelope.event_id})
    return envelope


async def applied(runtime, *envelopes) -> None:
    """Wait until the consumers have applied these events (their inbox rows). Waiting for a page
    that looks right is not enough: a page is read in several statements, so it can show one
    event's effect on one table and not yet on another."""
    ids = {e.event_id for e in envelopes}

    async def done():
        async with runtime.session_factory() as s:
            rows = (await s.exec(select(InboxMessage.event_id).where(InboxMessage.event_id.in_(ids)))).all()
        return set(rows) == ids
    await eventually(done, what="events applied")


async def assessment_for(client, plan_id, evidence: int = 0):
    async def fetch():
        r = await client.get("/v1/assessments", params={"plan_id": plan_id}, headers=KS_AUTH)
        found = r.json()["assessments"]
        return found[0] if found and found[0]["evidence_count"] >= evidence else None
    return await eventually(fetch)


async def outbox(runtime):
    async with runtime.session_factory() as s:
        return (await s.exec(select(OutboxMessage))).all()


async def open_assessments(runtime, client, js, *teachers: str) -> tuple[str, list[dict]]:
    """Roster, period and one approved plan per teacher through the streams; returns the period
    id and the opened assessments (in the order of the teachers)."""
    period_id = str(uuid.uuid4())
    await publish(js, roster())
    await publish(js, period(period_id))
    plans = [str(uuid.uuid4()) for _ in teachers]
    for plan_id, nip in zip(plans, teachers):
        await publish(js, approved(plan_id, period_id, nip))
    return period_id, [await assessment_for(client, plan_id) for plan_id in plans]


async def snapshot(runtime) -> dict:
    """Every row of every table of the service (outbox and inbox included), to show that a
    refused request changed nothing."""
    from sqlalchemy import text as sql

    from kinerja_assessment.adapters.tables import TABLES

    # The outbox by its events: the relay marks rows sent in the background.
    queries = {t.name: f"SELECT * FROM {t.name}" for t in TABLES}
    queries["outbox_messages"] = "SELECT event_id, event_type, data FROM outbox_messages"
    async with runtime.session_factory() as s:
        out = {}
        for name, query in queries.items():
            rows = (await s.exec(sql(query))).all()  # type: ignore[call-overload]
            out[name] = sorted(tuple(str(v) for v in r) for r in rows)
        return out


def ratings(hasil: str = "SESUAI", perilaku: str = "SESUAI", reason: str = "Sesuai ekspektasi") -> dict:
    return {"rating_hasil_kerja": hasil, "rating_perilaku_kerja": perilaku, "reason": reason}


async def rate_and_finalize(client, a: dict, hasil: str = "SESUAI", perilaku: str = "SESUAI", auth=None):
    auth = auth or KS_AUTH
    r = await client.put(f"/v1/assessments/{a['assessment_id']}/ratings", headers=auth, json=ratings(hasil, perilaku))
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/assessments/{a['assessment_id']}/finalize", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()
