"""Agreed plans (SKP) and periodic reviews mirrored for real: planning's RosterImported,
PeriodOpened and PlanApproved and assessment's PeriodicReviewRecorded on a real JetStream, the
e-Kinerja simulator over HTTP, SQLite and PostgreSQL. Checked through the simulator's SKP and
periodic-review stores (counted per NIP and period), the sync log API and the events on the
KINERJA_EKINERJA stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, timezone

import httpx
import pytest

from kinerja_shared.events import (
    MonthlyTarget,
    PeriodOpened,
    PersonRef,
    PlanApproved,
    PlanItem,
    RosterImported,
    SchoolRef,
    make_envelope,
)
from kinerja_shared.events.contracts import PeriodicReviewRecorded
from kinerja_shared.testing.http import bearer
from kinerja_shared.testing.wait import eventually

NPSN = "20212345"
REGION = "020500"
SCHOOL = "SD Negeri 1 Cibinong"
KS_NIP = "197204151998022001"
PENGAWAS_NIP = "196805141993031002"
DINAS = bearer("dinas", region=REGION)


class PlanSync:
    """The service under test, and what it is checked through."""

    def __init__(self, runtime, http, js, simulator) -> None:
        self.runtime, self.http, self.js, self.simulator = runtime, http, js, simulator

    async def publish(self, event, *, producer: str, copies: int = 1, occurred_at: datetime | None = None) -> str:
        """One envelope; extra copies carry other Nats-Msg-Ids (a redelivery as the consumer sees it)."""
        envelope = make_envelope(event, producer=producer, region=REGION, correlation_id=str(uuid.uuid4()),
                                 occurred_at=occurred_at)
        for i in range(copies):
            msg_id = envelope.event_id if i == 0 else f"{envelope.event_id}:copy{i}"
            await self.js.publish(envelope.subject(), envelope.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id})
        return envelope.event_id

    async def log(self, nip: str, kind: str | None = None) -> list[dict]:
        r = await self.http.get(f"/v1/sync-log/teachers/{nip}", headers=DINAS, params={"kind": kind} if kind else {})
        assert r.status_code == 200, r.text
        return r.json()["records"]

    async def record(self, nip: str, kind: str, *statuses: str, version: int | None = None) -> dict:
        async def check():
            for record in await self.log(nip, kind):
                if record["status"] in statuses and (version is None or record["version"] == version):
                    return record
            return None

        return await eventually(check, what=f"{kind} of {nip} in {statuses}", timeout=20)

    async def applied(self, stream: str = "KINERJA_PLANNING", durable: str = "ekinerja-sync-planning") -> None:
        """Wait until the consumer has taken (and acknowledged) everything in its stream."""
        async def check():
            last = (await self.js.stream_info(stream)).state.last_seq
            info = await self.js.consumer_info(stream, durable)
            return info.ack_floor.stream_seq >= last and info.num_ack_pending == 0

        await eventually(check, what=f"{durable} caught up")

    def skp(self) -> dict:
        return httpx.get(f"{self.simulator.url}/simulator/skp", timeout=5).json()

    def reviews(self) -> dict:
        return httpx.get(f"{self.simulator.url}/simulator/evaluasi-periodik", timeout=5).json()

    async def events(self, key: str, field: str = "plan_id") -> list[dict]:
        info = await self.js.stream_info("KINERJA_EKINERJA")
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            doc = json.loads((await self.js.get_msg("KINERJA_EKINERJA", seq)).data)
            if doc["payload"].get(field) == key:
                found.append(doc)
        return found


@pytest.fixture
def start_plan_sync(run_sync, simulator):
    async def start(**overrides) -> PlanSync:
        return PlanSync(*await run_sync(**overrides), simulator)

    return start


@pytest.fixture
async def plan_sync(start_plan_sync) -> PlanSync:
    return await start_plan_sync()


# ---------------------------------------------------------------- planning's facts


def guru(nip: str, **changes) -> PersonRef:
    fields = dict(nip=nip, name="Dewi Lestari, S.Pd.", role="guru", jabatan="Guru Kelas", jenjang="Ahli Muda",
                  golongan="III/c", asn_status="PNS", assessor_nip=KS_NIP)
    fields.update(changes)
    return PersonRef(**fields)


def kepala_sekolah(**changes) -> PersonRef:
    fields = dict(nip=KS_NIP, name="Siti Rahmawati, S.Pd., M.Pd.", role="kepala_sekolah", jabatan="Kepala Sekolah",
                  jenjang="Ahli Madya", golongan="IV/a", asn_status="PNS", assessor_nip=PENGAWAS_NIP)
    fields.update(changes)
    return PersonRef(**fields)


def roster(*teachers: PersonRef, school: str = SCHOOL) -> RosterImported:
    pengawas = PersonRef(nip=PENGAWAS_NIP, name="Drs. Hendra Gunawan, M.Pd.", role="pengawas",
                         jabatan="Pengawas Sekolah", jenjang="Ahli Madya", golongan="IV/b", asn_status="PNS")
    return RosterImported(import_id=str(uuid.uuid4()), school=SchoolRef(npsn=NPSN, name=school, region=REGION),
                          people=[kepala_sekolah(), *teachers, pengawas])


def period(policy: str = "pmm-2024", year: int = 2026) -> PeriodOpened:
    annual = policy == "ruang-gtk-2025"
    return PeriodOpened(
        period_id=str(uuid.uuid4()), policy=policy, year=year, semester=None if annual else 1,
        name=f"Tahun {year}" if annual else f"Semester 1 {year}", starts_on=date(year, 1, 1),
        ends_on=date(year, 12, 31) if annual else date(year, 6, 30), month_start=1, month_end=12 if annual else 6,
    )


def approved(nip: str, period_id: str, *, plan_id: str | None = None, revision: int = 1, **changes) -> PlanApproved:
    fields = dict(
        plan_id=plan_id or str(uuid.uuid4()), period_id=period_id, teacher_nip=nip, school_npsn=NPSN,
        assessor_nip=KS_NIP, indicators=["A.1", "D.1"],
        items=[
            PlanItem(item_id="i1", kind="praktik_kinerja", code="A.1", title="Literasi kelas 4",
                     focus_behaviours=["aktivasi kognitif"]),
            PlanItem(item_id="i2", kind="pengembangan_kompetensi", code="pelatihan", title="Pelatihan literasi",
                     points=32),
        ],
        monthly_targets=[
            MonthlyTarget(target_id="t1", month="2026-02", item_id="i1", description="Modul ajar literasi"),
            MonthlyTarget(target_id="t2", month="2026-03", description="Asesmen diagnostik"),
        ],
        competency_points=32, revision=revision, approved_by=KS_NIP,
        approved_at=datetime(2026, 1, 20, 3, 0, tzinfo=timezone.utc),
    )
    fields.update(changes)
    return PlanApproved(**fields)


async def planned(sync: PlanSync, *teachers: PersonRef, policy: str = "pmm-2024") -> PeriodOpened:
    """The roster and an open period, as planning publishes them before any plan."""
    await sync.publish(roster(*teachers), producer="planning")
    opened = period(policy)
    await sync.publish(opened, producer="planning")
    # Applied before what needs them is published: events of two streams (a review and a roster)
    # are applied concurrently, and a review handled before its roster is parked (then resumed
    # by the roster or the periodic re-check: tested on its own below).
    await sync.applied()
    return opened


# ---------------------------------------------------------------- agreed plans (SKP)


async def test_an_agreed_plan_becomes_one_skp_record_and_one_success_event(plan_sync, simulator, make_finalized, new_nip):
    nip = new_nip()
    opened = await planned(plan_sync, guru(nip))
    plan = approved(nip, opened.period_id)
    await plan_sync.publish(plan, producer="planning", copies=3)  # the same event delivered three times
    record = await plan_sync.record(nip, "skp", "acknowledged")
    await asyncio.sleep(0.5)  # room for any duplicate to show up

    skp = plan_sync.skp()
    assert skp["count_by_nip_period"] == {f"{nip}/2026/1-6": 1} and skp["duplicates"] == {}
    [stored] = skp["records"]
    assert (stored["pnsDinilaiNama"], stored["pnsDinilaiJabatanNama"], stored["pnsDinilaiGolongan"]) == (
        "Dewi Lestari, S.Pd.", "Guru Kelas", "III/c")
    assert (stored["pnsDinilaiUnorNama"], stored["penilaiUnorNama"]) == (SCHOOL, SCHOOL)
    assert (stored["penilaiNipNrp"], stored["penilaiNama"], stored["penilaiGolongan"]) == (
        KS_NIP, "Siti Rahmawati, S.Pd., M.Pd.", "IV/a")
    assert (stored["jenisSkp"], stored["koefisienId"], stored["revisi"], stored["statusPenilai"]) == ("GURU", "2", 1, "ASN")
    assert [i["kode"] for i in stored["rencanaHasilKerja"]] == ["A.1", "pelatihan"]
    assert stored["targetBulanan"] == [
        {"bulan": "2026-02", "uraian": "Modul ajar literasi", "kodeRencana": "A.1"},
        {"bulan": "2026-03", "uraian": "Asesmen diagnostik", "kodeRencana": None},
    ]
    assert stored["tanggalDisepakati"] == "2026-01-20" and stored["poinPengembanganKompetensi"] == 32
    assert skp["calls"]["save_skp"] == 1 and "save" not in skp["calls"]  # no final-result call

    assert (record["kind"], record["plan_id"], record["plan_revision"], record["key"]) == ("skp", plan.plan_id, 1, plan.plan_id)
    assert record["assessment_id"] is None and record["period"] == {"year": 2026, "month_start": 1, "month_end": 6}
    assert record["ekinerja_record_id"] == stored["id"]
    assert [(a["attempt"], a["outcome"], a["http_status"]) for a in record["attempts"]] == [(1, "acknowledged", 200)]
    assert len(await plan_sync.log(nip)) == 1

    [event] = await eventually(lambda: plan_sync.events(plan.plan_id), what="skp event")
    assert event["type"] == "ekinerja.skp_sync.succeeded" and event["producer"] == "ekinerja-sync"
    assert event["payload"]["ekinerja_record_id"] == stored["id"] and event["payload"]["plan_revision"] == 1
    assert event["payload"]["period_id"] == opened.period_id and event["payload"]["outcome"] == "acknowledged"

    # The teacher's final result goes its own way: one result, still one SKP, both in the log.
    await plan_sync.publish(make_finalized(nip), producer="assessment")
    await plan_sync.record(nip, "hasil", "acknowledged")
    assert simulator.records()["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    assert plan_sync.skp()["count"] == 1
    assert sorted(r["kind"] for r in await plan_sync.log(nip)) == ["hasil", "skp"]


async def test_a_reapproval_updates_the_same_skp_and_a_late_older_revision_is_ignored(plan_sync, new_nip):
    nip = new_nip()
    opened = await planned(plan_sync, guru(nip))
    first = approved(nip, opened.period_id)
    await plan_sync.publish(first, producer="planning")
    v1 = await plan_sync.record(nip, "skp", "acknowledged", version=1)

    # Returned, revised twice, agreed again as revision 3; revision 2's approval arrives late.
    third = approved(nip, opened.period_id, plan_id=first.plan_id, revision=3, competency_points=40)
    await plan_sync.publish(third, producer="planning")
    v3 = await plan_sync.record(nip, "skp", "acknowledged", version=3)
    assert v3["ekinerja_record_id"] == v1["ekinerja_record_id"]
    second = approved(nip, opened.period_id, plan_id=first.plan_id, revision=2, competency_points=36)
    await plan_sync.publish(second, producer="planning")
    v2 = await plan_sync.record(nip, "skp", "superseded", version=2)
    assert v2["attempts"] == [] and v2["message"] == "Digantikan oleh revisi 3"
    # Revision 1 delivered again (another envelope) changes nothing either.
    await plan_sync.publish(first, producer="planning")
    await asyncio.sleep(0.5)

    skp = plan_sync.skp()
    assert skp["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    [stored] = skp["records"]
    assert (stored["revisi"], stored["poinPengembanganKompetensi"]) == (3, 40)
    assert stored["id"] == v1["ekinerja_record_id"] and skp["calls"]["save_skp"] == 2  # a save, then an update
    assert sorted(r["version"] for r in await plan_sync.log(nip, "skp")) == [1, 2, 3]
    kinds = [e["type"] for e in await plan_sync.events(first.plan_id)]
    assert kinds == ["ekinerja.skp_sync.succeeded"] * 2


async def test_faults_while_sending_plans_still_leave_exactly_one_skp_each(start_plan_sync, simulator, new_nip):
    """Stored but answered 502, stored then the connection dropped, a timeout, 429 and 503:
    each plan is one SKP in e-Kinerja; an update after an ambiguous failure is not doubled."""
    sync = await start_plan_sync()
    nips = [new_nip() for _ in range(4)]
    opened = await planned(sync, *(guru(n) for n in nips))
    plans = {}
    for nip, faults in zip(nips, [
        {"next_5xx_after_save": 1}, {"next_drop_after_save": 1}, {"next_timeout": 1, "timeout_hang_s": 3},
        {"next_429": 1, "next_5xx": 1, "retry_after_s": 0},
    ], strict=True):
        simulator.faults(**faults)
        plans[nip] = approved(nip, opened.period_id)
        await sync.publish(plans[nip], producer="planning")
        record = await sync.record(nip, "skp", "acknowledged")
        outcomes = [a["outcome"] for a in record["attempts"]]
        assert outcomes[-1] in ("acknowledged", "already_stored") and len(outcomes) >= 2, (faults, outcomes)
    outcomes = {nip: [a["outcome"] for a in (await sync.log(nip, "skp"))[0]["attempts"]] for nip in nips}
    assert outcomes[nips[0]] == ["server_error", "already_stored"]
    assert outcomes[nips[1]] == ["connection_error", "already_stored"]
    assert outcomes[nips[2]][0] == "timeout"
    assert outcomes[nips[3]] == ["rate_limited", "server_error", "acknowledged"]

    # A re-approval whose update is stored but answered 502: read first, found, not sent again.
    simulator.faults(next_5xx_after_save=1)
    await sync.publish(approved(nips[0], opened.period_id, plan_id=plans[nips[0]].plan_id, revision=2),
                       producer="planning")
    v2 = await sync.record(nips[0], "skp", "acknowledged", version=2)
    assert [a["outcome"] for a in v2["attempts"]] == ["server_error", "already_stored"]
    await asyncio.sleep(0.5)
    skp = sync.skp()
    assert skp["count_by_nip_period"] == {f"{n}/2026/1-6": 1 for n in nips} and skp["duplicates"] == {}
    assert {r["pnsDinilaiId"]: r["revisi"] for r in skp["records"]}[nips[0]] == 2


async def test_plans_that_cannot_be_sent_yet_are_parked_with_the_reason_and_resume_when_planning_fixes_it(plan_sync, new_nip):
    # A plan for a teacher the roster does not hold yet, and one before its period was received.
    missing = new_nip()
    opened = await planned(plan_sync)
    unknown_teacher = approved(missing, opened.period_id)
    await plan_sync.publish(unknown_teacher, producer="planning")
    parked = await plan_sync.record(missing, "skp", "parked")
    assert parked["responsible_actor"] == "operator_sekolah" and f"NIP {missing} belum ada di roster" in parked["message"]
    assert [(a["attempt"], a["outcome"]) for a in parked["attempts"]] == [(0, "not_sent")]
    [failed] = await eventually(lambda: plan_sync.events(unknown_teacher.plan_id), what="failed event")
    assert failed["type"] == "ekinerja.skp_sync.failed"
    assert (failed["payload"]["status"], failed["payload"]["attempt"], failed["payload"]["outcome"]) == ("parked", 0, "not_sent")

    early = new_nip()
    later_period = period()
    early_plan = approved(early, later_period.period_id)
    await plan_sync.publish(early_plan, producer="planning")
    waiting = await plan_sync.record(early, "skp", "parked")
    assert waiting["responsible_actor"] == "sistem" and "PeriodOpened" in waiting["message"]
    assert waiting["period"] == {"year": 0, "month_start": 0, "month_end": 0}

    # The roster now holds both teachers (delivered twice), then the period opens.
    fixed = roster(guru(missing), guru(early))
    await plan_sync.publish(fixed, producer="planning", copies=2)
    done = await plan_sync.record(missing, "skp", "acknowledged")
    assert [a["outcome"] for a in done["attempts"]] == ["not_sent", "requeued", "acknowledged"]
    assert f"planning RosterImported {fixed.import_id}" in done["attempts"][1]["message"]
    assert "sebelumnya: " + parked["message"] in done["attempts"][1]["message"]
    assert (await plan_sync.log(early, "skp"))[0]["status"] == "parked"  # still no period
    await plan_sync.publish(later_period, producer="planning")
    done = await plan_sync.record(early, "skp", "acknowledged")
    assert [a["outcome"] for a in done["attempts"]] == ["not_sent", "requeued", "acknowledged"]
    assert f"PeriodOpened {later_period.period_id}" in done["attempts"][1]["message"]
    assert done["period"] == {"year": 2026, "month_start": 1, "month_end": 6}
    kinds = [e["type"] for e in await plan_sync.events(early_plan.plan_id)]
    assert kinds == ["ekinerja.skp_sync.failed", "ekinerja.skp_sync.requeued", "ekinerja.skp_sync.succeeded"]
    await asyncio.sleep(0.3)
    assert plan_sync.skp()["count_by_nip_period"] == {f"{missing}/2026/1-6": 1, f"{early}/2026/1-6": 1}


async def test_an_skp_bkn_refuses_is_parked_with_the_actor_and_requeued_by_the_dinas(plan_sync, simulator, new_nip):
    nip, honorer = new_nip(), new_nip()
    opened = await planned(plan_sync, guru(nip), guru(honorer, asn_status="NON_ASN"))
    simulator.faults(units_without_skp_organisasi=[SCHOOL])
    plan = approved(nip, opened.period_id)
    await plan_sync.publish(plan, producer="planning")
    parked = await plan_sync.record(nip, "skp", "parked")
    assert parked["message"] == "Data SKP Organisasi belum dibuat oleh atasan"
    assert parked["responsible_actor"] == "operator_sekolah"
    assert [(a["outcome"], a["http_status"]) for a in parked["attempts"]] == [("rejected", 400)]

    # A non-ASN teacher's plan is not mirrored: skipped, no call.
    await plan_sync.publish(approved(honorer, opened.period_id), producer="planning")
    skipped = await plan_sync.record(honorer, "skp", "skipped")
    assert skipped["attempts"] == [] and "non-ASN" in skipped["message"]

    url = f"/v1/sync-records/{plan.plan_id}/retry"
    r = await plan_sync.http.post(url, headers=bearer("guru", nip=nip))
    assert r.status_code == 403 and r.json()["error"]["code"] == "peran_tidak_diizinkan"
    simulator.faults(units_without_skp_organisasi=[])  # the atasan made the SKP Organisasi
    r = await plan_sync.http.post(url, headers=DINAS)
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "skp" and r.json()["status"] == "pending"
    done = await plan_sync.record(nip, "skp", "acknowledged")
    assert [a["outcome"] for a in done["attempts"]] == ["rejected", "requeued", "acknowledged"]
    r = await plan_sync.http.post(url, headers=DINAS)
    assert r.status_code == 409 and r.json()["error"]["code"] == "rekaman_tidak_diparkir"
    assert plan_sync.skp()["count_by_nip_period"] == {f"{nip}/2026/1-6": 1}
    kinds = [e["type"] for e in await plan_sync.events(plan.plan_id)]
    assert kinds == ["ekinerja.skp_sync.failed", "ekinerja.skp_sync.requeued", "ekinerja.skp_sync.succeeded"]


async def test_an_operator_retry_of_a_plan_still_missing_data_says_what_is_missing(plan_sync, new_nip):
    nip = new_nip()
    opened = await planned(plan_sync)
    plan = approved(nip, opened.period_id)
    await plan_sync.publish(plan, producer="planning")
    await plan_sync.record(nip, "skp", "parked")
    r = await plan_sync.http.post(f"/v1/sync-records/{plan.plan_id}/retry", headers=DINAS)
    assert r.status_code == 409 and r.json()["error"]["code"] == "rekaman_tidak_dapat_dikirim"
    assert "belum ada di roster" in r.json()["error"]["message"]
    assert r.json()["error"]["details"]["responsible_actor"] == "operator_sekolah"
    [record] = await plan_sync.log(nip, "skp")
    assert record["status"] == "parked" and len(record["attempts"]) == 1


# ---------------------------------------------------------------- periodic reviews (ruang-gtk-2025)


def reviewed(nip: str, assessment_id: str, review: str, *, progress: str = "SESUAI", at: datetime | None = None,
             feedback: str = "Target bulan ini tercapai") -> PeriodicReviewRecorded:
    return PeriodicReviewRecorded(
        assessment_id=assessment_id, teacher_nip=nip, school_npsn=NPSN, review=review, progress=progress,
        feedback=feedback, reviewed_by=KS_NIP, reviewed_at=at or datetime(2026, 3, 28, 2, 0, tzinfo=timezone.utc),
    )


async def test_periodic_reviews_are_mirrored_once_each_and_a_re_recorded_review_updates_its_record(plan_sync, simulator, new_nip):
    nip = new_nip()
    await planned(plan_sync, guru(nip), policy="ruang-gtk-2025")
    assessment_id = str(uuid.uuid4())
    march = reviewed(nip, assessment_id, "2026-03")
    await plan_sync.publish(march, producer="assessment", copies=3)  # three deliveries
    quarter = reviewed(nip, assessment_id, "2026-Q1", progress="DI_ATAS",
                       at=datetime(2026, 3, 30, 2, 0, tzinfo=timezone.utc))
    await plan_sync.publish(quarter, producer="assessment")
    monthly = await plan_sync.record(nip, "review_periodik", "acknowledged", version=1)
    await eventually(lambda: _acknowledged(plan_sync, nip, 2), what="both reviews acknowledged")
    await asyncio.sleep(0.5)

    stored = plan_sync.reviews()
    assert stored["count_by_nip_period"] == {f"{nip}/2026/3-3": 1, f"{nip}/2026/1-3": 1}
    by_months = {(r["bulanMulaiPenilaian"], r["bulanSelesaiPenilaian"]): r for r in stored["records"]}
    assert (by_months[(3, 3)]["periodikId"], by_months[(3, 3)]["hasilKinerjaNilai"]) == (1, 2)
    assert (by_months[(1, 3)]["periodikId"], by_months[(1, 3)]["hasilKinerjaNilai"]) == (2, 1)
    assert by_months[(3, 3)]["umpanBalik"] == "Target bulan ini tercapai"
    assert by_months[(3, 3)]["tanggalEvaluasi"] == "2026-03-28" and by_months[(3, 3)]["penilaiNipNrp"] == KS_NIP
    assert monthly["key"] == f"{assessment_id}:2026-03" and monthly["assessment_id"] == assessment_id
    assert monthly["review"] == "2026-03" and monthly["period"] == {"year": 2026, "month_start": 3, "month_end": 3}
    assert simulator.records()["count"] == 0 and plan_sync.skp()["count"] == 0  # apart from results and plans

    # The March review recorded again (stored, answered 502): the same record, updated once.
    simulator.faults(next_5xx_after_save=1)
    again = reviewed(nip, assessment_id, "2026-03", progress="DI_BAWAH", feedback="Perlu pendampingan",
                     at=datetime(2026, 4, 2, 2, 0, tzinfo=timezone.utc))
    await plan_sync.publish(again, producer="assessment")
    v2 = await plan_sync.record(nip, "review_periodik", "acknowledged", version=2)
    assert v2["ekinerja_record_id"] == monthly["ekinerja_record_id"]
    assert [a["outcome"] for a in v2["attempts"]] == ["server_error", "already_stored"]
    # A recording older than the newest arriving late is ignored.
    await plan_sync.publish(reviewed(nip, assessment_id, "2026-03", progress="DI_ATAS",
                                     at=datetime(2026, 3, 30, 2, 0, tzinfo=timezone.utc)), producer="assessment")
    late = await plan_sync.record(nip, "review_periodik", "superseded", version=3)
    assert late["attempts"] == [] and "dicatat kemudian" in late["message"]
    await asyncio.sleep(0.5)
    stored = plan_sync.reviews()
    assert stored["count_by_nip_period"] == {f"{nip}/2026/3-3": 1, f"{nip}/2026/1-3": 1}
    march_record = next(r for r in stored["records"] if r["bulanMulaiPenilaian"] == 3)
    assert (march_record["hasilKinerjaNilai"], march_record["umpanBalik"]) == (3, "Perlu pendampingan")
    events = await plan_sync.events(assessment_id, field="assessment_id")
    succeeded = [e for e in events if e["type"] == "ekinerja.periodic_review_sync.succeeded"]
    assert sorted((e["payload"]["review"], e["payload"]["review_version"]) for e in succeeded) == [
        ("2026-03", 1), ("2026-03", 2), ("2026-Q1", 1)]
    [failed] = [e for e in events if e["type"] == "ekinerja.periodic_review_sync.failed"]
    assert (failed["payload"]["status"], failed["payload"]["http_status"], failed["payload"]["review_version"]) == (
        "retrying", 502, 2)


async def _acknowledged(sync: PlanSync, nip: str, n: int):
    records = [r for r in await sync.log(nip, "review_periodik") if r["status"] == "acknowledged"]
    return records if len(records) >= n else None


async def test_a_review_that_cannot_be_sent_is_parked_with_the_reason(plan_sync, simulator, new_nip):
    nip = new_nip()
    await planned(plan_sync, guru(nip), policy="ruang-gtk-2025")
    await plan_sync.publish(reviewed(nip, str(uuid.uuid4()), "2026-13"), producer="assessment")
    parked = await plan_sync.record(nip, "review_periodik", "parked")
    assert parked["responsible_actor"] == "sistem" and "2026-13" in parked["message"]
    assert [a["outcome"] for a in parked["attempts"]] == ["not_sent"]
    # The dinas cannot push it through either: the key says which review, the answer says why.
    r = await plan_sync.http.post(f"/v1/sync-records/{parked['key']}/retry", headers=DINAS)
    assert r.status_code == 409 and r.json()["error"]["code"] == "rekaman_tidak_dapat_dikirim"
    assert "2026-13" in r.json()["error"]["message"] and r.json()["error"]["details"]["responsible_actor"] == "sistem"
    stranger = new_nip()  # not in the roster
    await plan_sync.publish(reviewed(stranger, str(uuid.uuid4()), "2026-02"), producer="assessment")
    parked = await plan_sync.record(stranger, "review_periodik", "parked")
    assert parked["responsible_actor"] == "operator_sekolah" and "belum ada di roster" in parked["message"]
    await asyncio.sleep(0.3)
    assert plan_sync.reviews()["calls"].get("save_evaluasi", 0) == 0


# ---------------------------------------------------------------- the log and reconciliation over HTTP


async def test_sync_log_kinds_and_skp_reconciliation(plan_sync, simulator, new_nip):
    nips = [new_nip() for _ in range(3)]
    opened = await planned(plan_sync, *(guru(n) for n in nips))
    for nip in nips:
        await plan_sync.publish(approved(nip, opened.period_id), producer="planning")
    records = {nip: await plan_sync.record(nip, "skp", "acknowledged") for nip in nips}

    r = await plan_sync.http.get(f"/v1/sync-log/schools/{NPSN}", headers=DINAS, params={"kind": "skp"})
    assert r.status_code == 200 and {x["teacher_nip"] for x in r.json()["records"]} == set(nips)
    r = await plan_sync.http.get(f"/v1/sync-log/schools/{NPSN}", headers=DINAS, params={"kind": "hasil"})
    assert r.status_code == 200 and r.json()["records"] == []
    r = await plan_sync.http.get(f"/v1/sync-log/districts/{REGION}", headers=DINAS, params={"kind": "skp"})
    assert r.json()["counts"] == {"acknowledged": 3} and r.json()["kind"] == "skp"
    r = await plan_sync.http.get("/v1/sync-records", headers=DINAS, params={"kind": "review_periodik"})
    assert r.status_code == 200 and r.json()["records"] == []
    for path in (f"/v1/sync-log/teachers/{nips[0]}", f"/v1/sync-log/schools/{NPSN}",
                 f"/v1/sync-log/districts/{REGION}", "/v1/sync-records"):
        r = await plan_sync.http.get(path, headers=DINAS, params={"kind": "rencana"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "jenis_rekaman_tidak_dikenal", path
        assert r.json()["error"]["message"] == "Jenis rekaman 'rencana' tidak dikenal."

    # e-Kinerja lost one SKP and holds one we never sent.
    lost = records[nips[0]]["ekinerja_record_id"]
    assert httpx.delete(f"{simulator.url}/simulator/skp/{lost}", timeout=5).status_code == 200
    body = {**plan_sync.skp()["records"][0], "pnsDinilaiId": nips[1], "revisi": 9}
    for field in ("id", "createdAt", "updatedAt"):
        body.pop(field)
    assert httpx.post(f"{simulator.url}/simulator/skp", json=body, timeout=5).status_code == 200
    params = {"period": "2026-1-6", "region": REGION, "kind": "skp"}
    report = (await plan_sync.http.get("/v1/reconciliation", headers=DINAS, params=params)).json()
    assert (report["kind"], report["results"], report["matched"]) == ("skp", 3, 2)
    assert [m["teacher_nip"] for m in report["missing"]] == [nips[0]]
    assert report["missing"][0]["plan_id"] and report["missing"][0]["kind"] == "skp"
    assert [(x["teacher_nip"], x["values"]["revisi"]) for x in report["extra"]] == [(nips[1], 9)]
    assert report["different"] == [] and report["unreadable"] == []
    results = (await plan_sync.http.get("/v1/reconciliation", headers=DINAS,
                                        params={**params, "kind": "hasil"})).json()
    assert results["results"] == 0 and results["missing"] == []  # the SKPs are not results
    r = await plan_sync.http.get("/v1/reconciliation", headers=DINAS, params={**params, "kind": "review_periodik"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "jenis_rekaman_tidak_dikenal"

    r = await plan_sync.http.post("/v1/reconciliation", headers=DINAS, params={**params, "requeue_missing": "true"})
    assert r.json()["requeued"] == [records[nips[0]]["key"]]

    async def resent():
        record = (await plan_sync.log(nips[0], "skp"))[0]
        return record if record["attempts"][-1]["outcome"] == "acknowledged" and len(record["attempts"]) == 3 else None

    again = await eventually(resent, what="the lost SKP sent again")
    assert again["ekinerja_record_id"] != lost
    assert plan_sync.skp()["count_by_nip_period"][f"{nips[0]}/2026/1-6"] == 1


async def test_a_record_parked_while_its_roster_was_being_applied_is_resumed_by_the_recheck(start_plan_sync, new_nip):
    """The race no event can settle: a review parked (teacher unknown) while the roster that
    names the teacher was applied in another transaction that did not see it. Here the roster's
    rows are written behind the service's back; the periodic re-check finds the review mappable."""
    from kinerja_ekinerja_sync.adapters.tables import PersonView, SchoolView

    sync = await start_plan_sync(ekinerja_waiting_recheck_s=0.3)
    nip = new_nip()
    await sync.publish(reviewed(nip, str(uuid.uuid4()), "2026-Q2"), producer="assessment")
    parked = await sync.record(nip, "review_periodik", "parked")
    assert parked["responsible_actor"] == "operator_sekolah"
    now = datetime.now(timezone.utc)
    async with sync.runtime.session_factory() as s:
        s.add(SchoolView(npsn=NPSN, name=SCHOOL, region=REGION, roster_at=now))
        for person in (guru(nip), kepala_sekolah()):
            s.add(PersonView(**person.model_dump(include={"nip", "name", "role", "jabatan", "jenjang", "golongan",
                                                          "asn_status", "assessor_nip"}), roster_at=now))
        await s.commit()
    done = await sync.record(nip, "review_periodik", "acknowledged")
    assert [a["outcome"] for a in done["attempts"]] == ["not_sent", "requeued", "acknowledged"]
    assert "pemeriksaan berkala" in done["attempts"][1]["message"]
    assert sync.reviews()["count_by_nip_period"] == {f"{nip}/2026/4-6": 1}
