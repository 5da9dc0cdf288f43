"""Idempotency-Key on every service's POST/PUT/PATCH (kinerja_shared.idempotency), through a
runtime's HTTP app on SQLite and PostgreSQL: a repeat replays the first answer and has no
second effect, concurrent repeats run the handler once, another body is 422, a 503 is not
kept, large bodies stream through."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func, select, update

from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.errors import DependencyUnavailable
from kinerja_shared.idempotency import KEYS
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.http import bearer, running_app

GURU = bearer("guru", nip="198503122010012001")
OTHER = bearer("guru", nip="198711052011011002")


class Body(BaseModel):
    name: str


def build(nats_url: str, database_url: str):
    runtime = ServiceRuntime(ServiceSettings(database_url=database_url, nats_url=nats_url), tables=[])
    router = APIRouter()
    effects: list[str] = []
    failures = {"left": 0}

    @router.post("/v1/things", status_code=201)
    async def create(body: Body, principal: CurrentPrincipal):
        await asyncio.sleep(0.05)  # long enough for concurrent repeats to arrive meanwhile
        if failures["left"]:
            failures["left"] -= 1
            raise DependencyUnavailable("object_storage", retry_after_s=3)
        effects.append(body.name)
        n = len(effects)
        return JSONResponse({"id": n, "name": body.name, "by": principal.sub}, status_code=201,
                            headers={"Location": f"/v1/things/{n}"})

    @router.put("/v1/blobs/{name}")
    async def upload(name: str, request: Request, principal: CurrentPrincipal):
        digest, size, chunks = hashlib.sha256(), 0, 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
            chunks += 1
        effects.append(name)
        return {"sha256": digest.hexdigest(), "size": size, "chunks": chunks}

    return runtime, runtime.http_app(title="t", description="d", routers=[router]), effects, failures


async def key_rows(runtime) -> list:
    async with runtime.session_factory() as s:
        return (await (await s.connection()).execute(select(KEYS.c.state, KEYS.c.status_code))).all()


async def test_a_repeat_replays_the_first_answer_without_a_second_effect(nats_server, database_url):
    runtime, app, effects, _ = build(nats_server.url, database_url)
    async with running_app(app) as client:
        headers = {**GURU, "Idempotency-Key": "a1b2c3"}
        first = await client.post("/v1/things", json={"name": "satu"}, headers=headers)
        again = await client.post("/v1/things", json={"name": "satu"}, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() == {"id": 1, "name": "satu", "by": "198503122010012001"}
        assert again.headers["Location"] == "/v1/things/1"
        assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
        assert again.headers["X-Correlation-ID"]
        assert effects == ["satu"]
        # The draft's quoted form is the same key.
        quoted = await client.post("/v1/things", json={"name": "satu"}, headers={**GURU, "Idempotency-Key": '"a1b2c3"'})
        assert quoted.headers.get("Idempotent-Replayed") == "true"
        # Another body with the key: refused, nothing done.
        other = await client.post("/v1/things", json={"name": "dua"}, headers=headers)
        assert (other.status_code, other.json()["error"]["code"]) == (422, "kunci_idempotensi_dipakai_ulang")
        # Keys belong to their principal; without a key nothing is remembered.
        theirs = await client.post("/v1/things", json={"name": "satu"}, headers={**OTHER, "Idempotency-Key": "a1b2c3"})
        assert theirs.status_code == 201 and theirs.json()["id"] == 2
        plain = await client.post("/v1/things", json={"name": "satu"}, headers=GURU)
        assert plain.status_code == 201 and plain.json()["id"] == 3
        assert effects == ["satu", "satu", "satu"]
        # A 4xx is an answer too: kept and replayed.
        bad = {**GURU, "Idempotency-Key": "bad-1"}
        r1 = await client.post("/v1/things", json={"nama": "x"}, headers=bad)
        r2 = await client.post("/v1/things", json={"nama": "x"}, headers=bad)
        assert r1.status_code == r2.status_code == 422 and r2.headers["Idempotent-Replayed"] == "true"
        assert r2.json() == r1.json()


async def test_concurrent_repeats_run_the_handler_once(nats_server, database_url):
    runtime, app, effects, _ = build(nats_server.url, database_url)
    async with running_app(app) as client:
        headers = {**GURU, "Idempotency-Key": "sepuluh-kali"}
        answers = await asyncio.gather(*(
            client.post("/v1/things", json={"name": "x"}, headers=headers) for _ in range(10)))
        assert effects == ["x"]
        done = [r for r in answers if r.status_code == 201]
        busy = [r for r in answers if r.status_code == 409]
        assert len(done) + len(busy) == 10 and done, [r.text for r in answers]
        assert all(r.json() == done[0].json() for r in done)
        assert len([r for r in done if "Idempotent-Replayed" not in r.headers]) == 1
        for r in busy:
            assert r.json()["error"]["code"] == "kunci_idempotensi_sedang_diproses"
            assert r.headers["Retry-After"] == "1"
        # Once done, every repeat is a replay.
        later = await client.post("/v1/things", json={"name": "x"}, headers=headers)
        assert later.status_code == 201 and later.headers["Idempotent-Replayed"] == "true"
        assert await key_rows(runtime) == [("done", 201)]


async def test_a_503_is_not_kept_and_the_key_can_be_retried(nats_server, database_url):
    runtime, app, effects, failures = build(nats_server.url, database_url)
    failures["left"] = 1
    async with running_app(app) as client:
        headers = {**GURU, "Idempotency-Key": "coba-lagi"}
        first = await client.post("/v1/things", json={"name": "x"}, headers=headers)
        assert first.status_code == 503 and first.headers["Retry-After"] == "3"
        assert first.json()["error"]["code"] == "penyimpanan_berkas_tidak_tersedia"
        assert await key_rows(runtime) == []
        retry = await client.post("/v1/things", json={"name": "x"}, headers=headers)
        assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
        assert effects == ["x"]


async def test_bad_keys_are_refused(nats_server, database_url):
    runtime, app, effects, _ = build(nats_server.url, database_url)
    async with running_app(app) as client:
        for key in ("x" * 256, "", "spasi di dalam"):
            r = await client.post("/v1/things", json={"name": "x"}, headers={**GURU, "Idempotency-Key": key})
            assert (r.status_code, r.json()["error"]["code"]) == (400, "kunci_idempotensi_tidak_valid"), key
        ok = await client.post("/v1/things", json={"name": "x"}, headers={**GURU, "Idempotency-Key": "x" * 255})
        assert ok.status_code == 201
        assert effects == ["x"]


async def test_large_bodies_stream_through_and_are_fingerprinted(nats_server, database_url):
    runtime, app, effects, _ = build(nats_server.url, database_url)
    big = bytes(range(256)) * (3 * 4096)  # 3 MiB: over the buffering limit

    def chunks(data: bytes):
        async def gen():
            for i in range(0, len(data), 64 * 1024):
                yield data[i:i + 64 * 1024]
        return gen()

    async with running_app(app) as client:
        headers = {**GURU, "Idempotency-Key": "unggah-1"}
        first = await client.put("/v1/blobs/a", content=chunks(big), headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["size"] == len(big) and first.json()["chunks"] > 1  # streamed, not one lump
        again = await client.put("/v1/blobs/a", content=chunks(big), headers=headers)
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        changed = big[:-1] + b"!"
        other = await client.put("/v1/blobs/a", content=chunks(changed), headers=headers)
        assert other.status_code == 422
        sized = await client.put("/v1/blobs/a", content=big, headers=headers)  # with Content-Length
        assert sized.headers.get("Idempotent-Replayed") == "true"
        assert effects == ["a"]


async def test_keys_older_than_the_retention_are_purged(nats_server, database_url):
    runtime, app, effects, _ = build(nats_server.url, database_url)
    async with running_app(app) as client:
        headers = {**GURU, "Idempotency-Key": "lama"}
        await client.post("/v1/things", json={"name": "x"}, headers=headers)
        await client.post("/v1/things", json={"name": "y"}, headers={**GURU, "Idempotency-Key": "baru"})
        async with runtime.session_factory() as s:
            await (await s.connection()).execute(update(KEYS).where(KEYS.c.idempotency_key == "lama").values(
                created_at=datetime.now(timezone.utc) - timedelta(hours=25)))
            await s.commit()
        assert await runtime.idempotency.purge() == 1
        async with runtime.session_factory() as s:
            assert (await (await s.connection()).execute(select(func.count()).select_from(KEYS))).scalar_one() == 1
        # After the retention the key is new again.
        r = await client.post("/v1/things", json={"name": "z"}, headers=headers)
        assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
        assert effects == ["x", "y", "z"]


@pytest.mark.parametrize("method", ["get", "delete"])
async def test_other_methods_ignore_the_header(nats_server, tmp_path, method):
    runtime, app, effects, _ = build(nats_server.url, f"sqlite+aiosqlite:///{tmp_path / 'i.db'}")
    async with running_app(app) as client:
        r = await client.request(method.upper(), "/health/live", headers={"Idempotency-Key": "x" * 300})
        assert r.status_code in (200, 405)
        assert await key_rows(runtime) == []
