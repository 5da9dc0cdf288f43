"""Request bodies bounded at the edge (issue 11): size (413 badan_permintaan_terlalu_besar,
KINERJA_HTTP_MAX_BODY_BYTES) and JSON nesting (422 json_terlalu_bersarang). Before, any body
was read whole whatever its size, and a deeply nested JSON document reached ``json.loads``
(a RecursionError)."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel

from kinerja_shared.body_limits import OWN_BODY_LIMIT, check_json_depth, json_depth_exceeds, JsonTooDeep
from kinerja_shared.correlation import HTTP_HEADER
from kinerja_shared.limits import JSON_DEPTH_MAX
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.http import bearer, running_app


class Note(BaseModel):
    text: str
    extra: dict | list | None = None


def test_json_depth():
    assert not json_depth_exceeds(b'{"a": [1, {"b": [2]}]}', 4)
    assert json_depth_exceeds(b'{"a": [1, {"b": [2]}]}', 3)
    # Brackets inside strings (escaped quotes too) do not count.
    assert not json_depth_exceeds(json.dumps({"t": "[[[[{{{{\\\"[[[["}).encode(), 1)
    deep = b"[" * 100_000 + b"]" * 100_000
    assert json_depth_exceeds(deep) and not json_depth_exceeds(b"[]" * 100_000)
    with pytest.raises(JsonTooDeep) as refused:
        check_json_depth(deep)
    assert refused.value.code == "json_terlalu_bersarang" and refused.value.status_code == 422
    assert not json_depth_exceeds(json.dumps(_nested(JSON_DEPTH_MAX)).encode())
    assert json_depth_exceeds(json.dumps(_nested(JSON_DEPTH_MAX + 1)).encode())


def _nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
async def client(nats_server, tmp_path):
    runtime = ServiceRuntime(ServiceSettings(
        service_name="planning", nats_url=nats_server.url, http_max_body_bytes=4096,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"), tables=[])
    router = APIRouter()

    @router.post("/v1/notes")
    async def post_note(note: Note) -> dict:
        return {"length": len(note.text)}

    @router.post("/v1/files", max_body_size=OWN_BODY_LIMIT)
    async def post_file(request: Request) -> dict:
        return {"length": len(await request.body())}

    app = runtime.http_app(title="t", description="d", routers=[router])
    async with running_app(app) as client:
        yield client


def _chunks(data: bytes, size: int = 1000):
    async def gen():
        for i in range(0, len(data), size):
            yield data[i:i + size]
    return gen()


async def test_a_body_over_the_limit_is_413_with_a_code(client):
    small = await client.post("/v1/notes", json={"text": "x" * 100})
    assert small.status_code == 200 and small.json() == {"length": 100}
    big = json.dumps({"text": "x" * 5000}).encode()
    for content in (big, _chunks(big)):  # with a Content-Length, and chunked without one
        r = await client.post("/v1/notes", content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
        error = r.json()["error"]
        assert error["code"] == "badan_permintaan_terlalu_besar" and error["details"] == {"max_bytes": 4096}
        assert r.headers[HTTP_HEADER]
    for content in (b"x" * 5000, _chunks(b"x" * 5000)):  # not JSON: counted as it streams
        r = await client.post("/v1/notes", content=content, headers={"Content-Type": "text/plain"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "badan_permintaan_terlalu_besar"
    # A route that limits its own body is left alone, JSON or not, chunked or not.
    for content_type in ("application/octet-stream", "application/json"):
        for content in (b"[" + b"1," * 10_000 + b"1]", _chunks(b"[" + b"1," * 10_000 + b"1]")):
            r = await client.post("/v1/files", content=content, headers={"Content-Type": content_type})
            assert r.status_code == 200 and r.json() == {"length": 20_003}, r.text


async def test_an_oversized_body_with_an_idempotency_key_is_413_every_time(client):
    key = {"Idempotency-Key": "note-1", **bearer("dinas")}
    big = json.dumps({"text": "x" * 5000}).encode()
    for chunked in (False, True):
        for _ in range(2):
            content = _chunks(big) if chunked else big
            r = await client.post("/v1/notes", content=content, headers={**key, "Content-Type": "application/json"})
            assert r.status_code == 413 and r.json()["error"]["code"] == "badan_permintaan_terlalu_besar"


async def test_deeply_nested_json_is_422_before_it_is_parsed(client):
    body = b'{"text": "a", "extra": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    r = await client.post("/v1/notes", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "json_terlalu_bersarang" and r.headers[HTTP_HEADER]
    fine = await client.post("/v1/notes", json={"text": "a", "extra": _nested(10)})
    assert fine.status_code == 200
