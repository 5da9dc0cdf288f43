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

from kinerja_shared.body_limits import OWN_BODY_LIMIT
from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.errors import DependencyUnavailable
from kinerja_shared.idempotency import KEYS, row_id
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.http import bearer, running_app
from kinerja_shared.testing.wait import eventually

GURU = bearer("guru", nip="198503122010012001")
OTHER = bearer("guru", nip="198711052011011002")


class Body(BaseModel):
    name: str


def build(nats_url: str, database_url: str, **settings):
    settings = {"service_name": "planning", **settings}  # a NATS user of its own
    runtime = ServiceRuntime(ServiceSettings(database_url=database_url, nats_url=nats_url, **settings), tables=[])
    router = APIRouter()
    effects: list[str] = []
    failures = {"left": 0}

    @router.post("/v1/slow", status_code=201)
    async def slow(body: Body, principal: CurrentPrincipal, seconds: float = 2.0, fail: bool = False):
        effects.append(f"start {body.name}")
        await asyncio.sleep(seconds)  # longer than the lease the test sets
        if fail:
            raise RuntimeError("the handler failed")
        effects.append(body.name)
        return JSONResponse({"name": body.name, "n": len(effects)}, status_code=201)

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

    @router.put("/v1/blobs/{name}", max_body_size=OWN_BODY_LIMIT)  # an upload: reads its own body
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
            # The claim's remaining lease, rounded up, never more than the lease (30 s).
            assert 1 <= int(r.headers["Retry-After"]) <= 2
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


def heartbeats() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("idempotency-heartbeat") and not t.done()]


async def test_a_handler_slower_than_the_lease_keeps_its_claim(nats_server, database_url):
    """The claim is renewed while the handler runs: a live request is never taken over, however
    long it takes, and a repeat meanwhile is 409 until the first answer is stored."""
    runtime, app, effects, _ = build(nats_server.url, database_url, idempotency_lease_s=0.6)
    async with running_app(app) as client:
        headers = {**GURU, "Idempotency-Key": "lambat"}
        first = asyncio.create_task(client.post("/v1/slow", json={"name": "x"}, headers=headers))
        repeats = []
        for _ in range(3):  # at about 0.5, 1.0 and 1.5 s: the last two well past the lease
            await asyncio.sleep(0.5)
            repeats.append(await client.post("/v1/slow", json={"name": "x"}, headers=headers))
        assert [r.status_code for r in repeats] == [409, 409, 409], [r.text for r in repeats]
        for r in repeats:
            assert r.json()["error"]["code"] == "kunci_idempotensi_sedang_diproses"
            assert r.headers["Retry-After"] == "1"  # the remaining lease rounded up, at most the lease
        assert len(heartbeats()) == 1
        answer = await first
        assert answer.status_code == 201 and "Idempotent-Replayed" not in answer.headers
        assert heartbeats() == []
        after = await client.post("/v1/slow", json={"name": "x"}, headers=headers)
        assert after.status_code == 201 and after.headers["Idempotent-Replayed"] == "true"
        assert after.json() == answer.json()
        assert effects == ["start x", "x"]  # the handler ran once
        assert await key_rows(runtime) == [("done", 201)]


async def test_a_claim_whose_holder_died_is_taken_over_after_the_lease(nats_server, database_url):
    """A replica killed mid-request leaves its claim without a heartbeat: after the lease the
    key is free again (a claim from before the heartbeat, without lease_until, by its age)."""
    runtime, app, effects, _ = build(nats_server.url, database_url, idempotency_lease_s=0.6)
    async with running_app(app) as client:
        now = datetime.now(timezone.utc)
        principal, path = "sub:198503122010012001", "/v1/slow"
        async with runtime.session_factory() as s:
            connection = await s.connection()
            for key, lease_until, created_at in (("mati", now + timedelta(seconds=0.6), now),
                                                 ("mati-lama", None, now - timedelta(seconds=1))):
                await connection.execute(KEYS.insert().values(
                    id=row_id(principal, "POST", path, key), idempotency_key=key, principal=principal,
                    method="POST", path=path, fingerprint=None, state="processing", created_at=created_at,
                    claim_token="dead-replica", lease_until=lease_until))
            await s.commit()
        headers = {**GURU, "Idempotency-Key": "mati"}
        busy = await client.post(path, params={"seconds": 0}, json={"name": "x"}, headers=headers)
        assert busy.status_code == 409 and busy.headers["Retry-After"] == "1"
        await asyncio.sleep(0.7)
        taken = await client.post(path, params={"seconds": 0}, json={"name": "x"}, headers=headers)
        assert taken.status_code == 201 and "Idempotent-Replayed" not in taken.headers
        old = await client.post(path, params={"seconds": 0}, json={"name": "y"}, headers={**GURU, "Idempotency-Key": "mati-lama"})
        assert old.status_code == 201 and "Idempotent-Replayed" not in old.headers
        assert effects == ["start x", "x", "start y", "y"]
        assert sorted(await key_rows(runtime)) == [("done", 201), ("done", 201)]


async def test_a_request_that_lost_its_claim_neither_renews_nor_frees_it(nats_server, database_url):
    """Only the claim's holder (its claim token) renews, stores or releases it: a request whose
    claim was taken over cannot extend, overwrite or delete the new holder's claim."""
    runtime, app, effects, _ = build(nats_server.url, database_url, idempotency_lease_s=0.3)
    store = runtime.idempotency
    async with running_app(app):
        rid = row_id("sub:a", "POST", "/v1/x", "k")
        fields = dict(key="k", principal="sub:a", method="POST", path="/v1/x", fingerprint=None)
        first = await store.claim(rid, token="first", **fields)
        assert first is None and await store.renew(rid, "first")
        assert (await store.claim(rid, token="second", **fields)).state == "processing"
        await asyncio.sleep(0.4)  # the first holder stops renewing (it died, or it is stuck)
        assert await store.claim(rid, token="second", **fields) is None
        assert not await store.renew(rid, "first")
        await store.release(rid, "first")
        assert not await store.complete(rid, "first", "f", 201, [], b"mine")
        assert await store.renew(rid, "second")
        assert await key_rows(runtime) == [("processing", None)]
        assert await store.complete(rid, "second", "f", 201, [], b"theirs")
        assert await key_rows(runtime) == [("done", 201)]


@pytest.mark.parametrize("how", ["success", "exception", "disconnect", "stored_fails"])
async def test_the_heartbeat_stops_on_every_path(nats_server, tmp_path, how, monkeypatch):
    runtime, app, effects, _ = build(nats_server.url, f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
                                     idempotency_lease_s=0.3)
    async with running_app(app) as client:
        headers = {**GURU, "Idempotency-Key": f"detak-{how}"}
        params = {"seconds": 0.5, "fail": how == "exception"}
        if how == "stored_fails":
            async def broken(*_a, **_k):
                raise ConnectionError("database went away")
            monkeypatch.setattr(runtime.idempotency, "complete", broken)
        request = asyncio.create_task(client.post("/v1/slow", params=params, json={"name": "x"}, headers=headers))

        async def handler_running():  # the claim is held (a fixed 0.25 s wait missed it under load)
            return "start x" in effects

        await eventually(handler_running, timeout=15, what="the handler started")
        assert len(heartbeats()) == 1  # checked before yielding: the handler is still in its sleep
        if how == "disconnect":  # the client goes away: the in-process app call is cancelled
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
        else:
            r = await request
            assert r.status_code == {"success": 201, "exception": 500, "stored_fails": 201}[how]
        for _ in range(20):  # a cancelled request's release finishes in the background
            if not heartbeats() and (how == "success" or not await key_rows(runtime)):
                break
            await asyncio.sleep(0.05)
        assert heartbeats() == []
        # Stored on success; released otherwise (long before the lease), so a retry runs at once.
        assert await key_rows(runtime) == ([("done", 201)] if how == "success" else [])
        monkeypatch.undo()
        retry = await client.post("/v1/slow", params=params, json={"name": "x"}, headers=headers)
        assert retry.status_code == (500 if how == "exception" else 201)
        assert retry.headers.get("Idempotent-Replayed") == ("true" if how == "success" else None)
