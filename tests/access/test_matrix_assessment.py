"""The access matrix of the assessment service (see access_matrix.py), on SQLite: the roster,
the period and two approved plans of school A (its first guru's, assessed by the kepala sekolah,
and the kepala sekolah's, assessed by the pengawas) arrive as planning's events."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import nats

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "services" / "assessment" / "tests"))

from access_matrix import (  # noqa: E402
    COLLEAGUE_RECORD, GURU_RECORD, KS_RECORD, NATIONAL, SCHOOL, SCHOOL_A, SCHOOLS, Ctx, Op, check, publish, roster_event,
)
from assessment_harness import approved, period, ratings  # noqa: E402

from kinerja_shared.clock import FixedClock  # noqa: E402
from kinerja_shared.messaging.streams import ensure_streams  # noqa: E402
from kinerja_shared.testing.http import bearer, running_app  # noqa: E402
from kinerja_shared.testing.servers import nats_client_options  # noqa: E402
from kinerja_shared.testing.wait import eventually  # noqa: E402
from kinerja_assessment.bootstrap import build  # noqa: E402
from kinerja_assessment.settings import Settings  # noqa: E402

SISTEM = bearer("sistem")
A, D = SCHOOL_A.npsn, SCHOOL_A.region
GURU, KS = SCHOOL_A.gurus[0], SCHOOL_A.ks
KS_AUTH = bearer("kepala_sekolah", nip=KS, npsn=A)
GURU_AUTH = bearer("guru", nip=GURU, npsn=A)

STAGE = {"stage": "A", "held_on": "2026-03-02", "participants": ["Kepala A", "Guru A0"], "notes": "catatan"}
SCORES = {"scores": [{"behaviour": "Manajemen kelas", "level": "EFEKTIF", "evidence_notes": "Aturan kelas jelas",
                      "follow_up": "Pertahankan"}]}
JUDGEMENT = {"upaya_refleksi": "TERLIHAT_KONSISTEN", "upaya_mempelajari": "MULAI_TERLIHAT",
             "perubahan_praktik": "MULAI_TERLIHAT", "note": "Refleksi rutin"}
REVIEW = {"review": "2026-03", "progress": "SESUAI", "feedback": "Sesuai rencana"}


async def seed(client, js) -> Ctx:
    ctx = Ctx(client)
    period_id = str(uuid.uuid4())
    for school in SCHOOLS:
        await publish(js, roster_event(school), region=school.region)
    await publish(js, period(period_id))
    guru_plan, colleague_plan, ks_plan = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    await publish(js, approved(guru_plan, period_id, GURU, KS, npsn=A))
    await publish(js, approved(colleague_plan, period_id, SCHOOL_A.gurus[1], KS, npsn=A))
    await publish(js, approved(ks_plan, period_id, KS, SCHOOL_A.pengawas, plan_kind="kepala_sekolah", npsn=A))

    async def opened():
        r = await client.get("/v1/assessments", params={"period_id": period_id}, headers=SISTEM)
        found = {a["plan_id"]: a["assessment_id"] for a in r.json().get("assessments", [])}
        return found if {guru_plan, colleague_plan, ks_plan} <= set(found) else None

    found = await eventually(opened, what="the assessments opened")
    ctx.ids.update(period=period_id, guru=found[guru_plan], colleague=found[colleague_plan], ks=found[ks_plan])
    return ctx


async def _objection(ctx) -> None:
    """The decision cells need a keberatan: the guru files one if the objections cells did not."""
    r = await ctx.client.get(f"/v1/assessments/{ctx.guru}", headers=SISTEM)
    objections = r.json().get("objections", [])
    if not objections:
        filed = await ctx.client.post(f"/v1/assessments/{ctx.guru}/objections", json={"reason": "Tidak sesuai"},
                                      headers=GURU_AUTH)
        assert filed.status_code == 201, filed.text
        objections = [filed.json()]
    ctx.ids["objection"] = objections[0]["objection_id"]


async def _final(ctx) -> None:
    """Corrections, objections and acknowledgement are for a final assessment."""
    r = await ctx.client.get(f"/v1/assessments/{ctx.guru}", headers=SISTEM)
    if r.json()["status"] != "final":
        await ctx.client.put(f"/v1/assessments/{ctx.guru}/ratings", json=ratings(), headers=KS_AUTH)
        done = await ctx.client.post(f"/v1/assessments/{ctx.guru}/finalize", headers=KS_AUTH)
        assert done.status_code == 200, done.text


def _assessments(body) -> set[str]:
    return {a["assessment_id"] for a in body["assessments"]}


def on(record: str, path: str) -> str:
    return path.replace("{id}", record)


def get(path, **params):
    return lambda c, h: c.client.get(path.format(**c.ids), params={k: v.format(**c.ids) for k, v in params.items()},
                                     headers=h)


def send(method, path, body=None):
    """A command; ``body`` may be a function of the context (ids known after seeding)."""
    return lambda c, h: c.client.request(method, path.format(**c.ids), headers=h,
                                         json=body(c) if callable(body) else body)


OPS = [
    Op("GET /v1/observation-rubric", get("/v1/observation-rubric"), NATIONAL),
    Op("GET /v1/assessments", get("/v1/assessments", period_id="{period}"), GURU_RECORD,
       listing=_assessments, target=lambda c: c.guru),
    Op("GET /v1/assessments", get("/v1/assessments", period_id="{period}"), KS_RECORD,
       listing=_assessments, target=lambda c: c.ks, note="the kepala sekolah's"),
    Op("GET /v1/assessments/{assessment_id}", get("/v1/assessments/{guru}"), GURU_RECORD),
    Op("GET /v1/assessments/{assessment_id}", get("/v1/assessments/{ks}"), KS_RECORD, note="the kepala sekolah's"),
    # The PPK's views are not the assessed person's (a kepala sekolah's own assessment is in their
    # school, so "school" alone would let them see their assessor's view of it).
    Op("GET /v1/assessments/{assessment_id}/distribution", get("/v1/assessments/{guru}/distribution"), GURU_RECORD,
       not_owner=True),
    Op("GET /v1/assessments/{assessment_id}/distribution", get("/v1/assessments/{ks}/distribution"), KS_RECORD,
       not_owner=True, note="the kepala sekolah's"),
    Op("GET /v1/assessments/{assessment_id}/workbench", get("/v1/assessments/{guru}/workbench"), GURU_RECORD,
       not_owner=True),
    Op("GET /v1/assessments/{assessment_id}/workbench", get("/v1/assessments/{ks}/workbench"), KS_RECORD,
       not_owner=True, note="the kepala sekolah's"),
    Op("GET /v1/assessments/{assessment_id}/observation", get("/v1/assessments/{colleague}/observation"), COLLEAGUE_RECORD),
    Op("GET /v1/assessments/{assessment_id}/reviews", get("/v1/assessments/{colleague}/reviews"), COLLEAGUE_RECORD),
    Op("GET /v1/recaps", get("/v1/recaps", period_id="{period}", level="school", code=A), SCHOOL),
    Op("GET /v1/people/{nip}/angka-kredit", get(f"/v1/people/{GURU}/angka-kredit"), GURU_RECORD),
    Op("GET /v1/people/{nip}/annual/{year}", get(f"/v1/people/{GURU}/annual/2026"), GURU_RECORD),
    Op("POST /v1/assessments/{assessment_id}/observation/stages",
       send("POST", "/v1/assessments/{colleague}/observation/stages", STAGE), COLLEAGUE_RECORD),
    Op("PUT /v1/assessments/{assessment_id}/observation/scores",
       send("PUT", "/v1/assessments/{colleague}/observation/scores", SCORES), COLLEAGUE_RECORD),
    Op("PUT /v1/assessments/{assessment_id}/observation/judgement",
       send("PUT", "/v1/assessments/{colleague}/observation/judgement", JUDGEMENT), COLLEAGUE_RECORD),
    Op("POST /v1/assessments/{assessment_id}/reviews",
       send("POST", "/v1/assessments/{colleague}/reviews", REVIEW), COLLEAGUE_RECORD),
    Op("PUT /v1/assessments/{assessment_id}/ratings",
       send("PUT", "/v1/assessments/{guru}/ratings", ratings()), GURU_RECORD),
    Op("PUT /v1/assessments/{assessment_id}/ratings",
       send("PUT", "/v1/assessments/{ks}/ratings", ratings()), KS_RECORD, note="the kepala sekolah's"),
    Op("POST /v1/periods/{period_id}/extensions",
       send("POST", "/v1/periods/{period}/extensions", {"until": "2026-07-15", "reason": "Banjir", "npsn": A}), SCHOOL),
    Op("POST /v1/assessments/{assessment_id}/finalize", send("POST", "/v1/assessments/{guru}/finalize"), GURU_RECORD),
    Op("POST /v1/assessments/{assessment_id}/finalize", send("POST", "/v1/assessments/{ks}/finalize"), KS_RECORD,
       note="the kepala sekolah's"),
    Op("POST /v1/assessments/{assessment_id}/objections",
       send("POST", "/v1/assessments/{guru}/objections", {"reason": "Tidak sesuai"}), GURU_RECORD, before=_final),
    Op("POST /v1/objections/{objection_id}/decision",
       send("POST", "/v1/objections/{objection}/decision", {"decision": "DITOLAK", "reason": "Sudah sesuai"}),
       GURU_RECORD, before=_objection),
    Op("POST /v1/assessments/{assessment_id}/acknowledge", send("POST", "/v1/assessments/{guru}/acknowledge"),
       GURU_RECORD, before=_final),
    Op("POST /v1/assessments/{assessment_id}/corrections",
       send("POST", "/v1/assessments/{guru}/corrections",
            {"corrects_version": 1, "rating_hasil_kerja": "DI_ATAS", "rating_perilaku_kerja": "SESUAI",
             "reason": "Salah ketik"}), GURU_RECORD, before=_final),
    Op("PUT /v1/organisations/{npsn}/predikat",
       send("PUT", f"/v1/organisations/{A}/predikat", lambda c: {"period_id": c.period, "predikat": "BAIK"}), SCHOOL),
]


async def test_assessment_access_matrix(nats_factory, tmp_path):
    nats_server = nats_factory().start()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'assessment.db'}", nats_url=nats_server.url,
                        consumer_backoff_base_s=0.1, consumer_backoff_max_s=0.5)
    nc = await nats.connect(**nats_client_options(nats_server.url))
    try:
        js = nc.jetstream()
        await ensure_streams(js, settings)
        runtime, app = build(settings)
        # The assessment stage of Semester 1 2026.
        runtime.clock = FixedClock(datetime(2026, 6, 10, 3, 0, tzinfo=timezone.utc))
        async with running_app(app) as client:
            ctx = await seed(client, js)
            await check("assessment", OPS, ctx)
    finally:
        await nc.close()
