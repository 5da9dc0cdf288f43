"""``Idempotency-Key`` on every POST, PUT and PATCH of every service (IETF httpapi draft "The
Idempotency-Key HTTP Header Field").

A client that sends ``Idempotency-Key: <key>`` (1 to 255 visible ASCII characters, quoted or
not) may repeat the request safely:

- first request with the key: processed; its answer (status, Content-Type, Location, ETag and
  body) is stored under (principal, method, path, key) with a fingerprint of the request, a
  SHA-256 of the query string and the body;
- the same key and the same fingerprint again: the stored answer, with ``Idempotent-Replayed:
  true``; the handler does not run again;
- the same key with another body: 422 ``kunci_idempotensi_dipakai_ulang``;
- the same key while the first request still runs: 409 ``kunci_idempotensi_sedang_diproses``
  with ``Retry-After``.

Only 2xx and 4xx answers are stored (not 408 or 429): a 5xx (a 503 while the database is
away) releases the key so the client can retry with it. The claim is the first thing done: an
``INSERT ... ON CONFLICT DO NOTHING`` of the key row, committed before the handler runs, so two
requests with the same key can never both run it. Keys are kept ``KINERJA_IDEMPOTENCY_RETENTION_H``
hours (24 by default) and then purged; a claim whose request died without releasing it (the
process was killed, the database went away) can be taken over after
``KINERJA_IDEMPOTENCY_LEASE_S`` seconds.

Bodies up to ``BUFFER_LIMIT`` bytes with a Content-Length are read before the claim; larger or
chunked bodies (evidence uploads) stream through to the handler and are hashed as they pass,
so memory stays bounded. Answers are held back until stored (a retry arriving right after the
answer must find the key done, not in flight); an answer larger than ``STORE_LIMIT`` is passed
through and not stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel

from kinerja_shared.db import SessionFactory
from kinerja_shared.logging import get_logger
from kinerja_shared.settings import ServiceSettings

log = get_logger(__name__)

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_KEY_LENGTH = 255
BUFFER_LIMIT = 1024 * 1024
STORE_LIMIT = 1024 * 1024
# What a replay needs besides the body; correlation ids and the like belong to the new request.
STORED_HEADERS = frozenset({b"content-type", b"location", b"content-location", b"etag"})
PROCESSING, DONE = "processing", "done"


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    # SHA-256 of (principal, method, path, key): one fixed-width unique column is the claim.
    id: str = Field(primary_key=True, max_length=64)
    idempotency_key: str = Field(max_length=255)
    principal: str = Field(max_length=128)
    method: str = Field(max_length=8)
    path: str = Field(max_length=1024)
    fingerprint: str | None = Field(default=None, max_length=64)
    state: str = Field(max_length=16)
    status_code: int | None = None
    response_headers: str | None = None  # JSON [[name, value], ...]
    response_body: bytes | None = None
    created_at: datetime = Field(index=True)
    completed_at: datetime | None = None


KEYS = IdempotencyKey.__table__


@dataclass
class Stored:
    state: str
    fingerprint: str | None
    status_code: int | None
    headers: list[list[str]]
    body: bytes


class IdempotencyStore:
    """The key rows in the service's own database."""

    def __init__(self, session_factory: SessionFactory, settings: ServiceSettings | None = None) -> None:
        self.session_factory = session_factory
        self.settings = settings or ServiceSettings()

    @property
    def retention(self) -> timedelta:
        return timedelta(hours=self.settings.idempotency_retention_h)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.idempotency_lease_s)

    async def claim(self, row_id: str, *, key: str, principal: str, method: str, path: str,
                    fingerprint: str | None) -> Stored | None:
        """None when this request now owns the key; else what the key holds."""
        for _ in range(3):
            now = datetime.now(timezone.utc)
            async with self.session_factory() as session:
                connection = await session.connection()
                # Expired rows and abandoned claims do not block a new claim.
                await connection.execute(delete(KEYS).where(
                    KEYS.c.id == row_id,
                    ((KEYS.c.state == DONE) & (KEYS.c.created_at < now - self.retention))
                    | ((KEYS.c.state == PROCESSING) & (KEYS.c.created_at < now - self.lease))))
                insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
                statement = insert(KEYS).values(
                    id=row_id, idempotency_key=key, principal=principal, method=method, path=path[:1024],
                    fingerprint=fingerprint, state=PROCESSING, created_at=now,
                ).on_conflict_do_nothing(index_elements=["id"]).returning(KEYS.c.id)
                claimed = (await connection.execute(statement)).first() is not None
                row = None if claimed else (await connection.execute(select(
                    KEYS.c.state, KEYS.c.fingerprint, KEYS.c.status_code, KEYS.c.response_headers,
                    KEYS.c.response_body).where(KEYS.c.id == row_id))).first()
                await session.commit()
            if claimed:
                return None
            if row is not None:
                return Stored(row.state, row.fingerprint, row.status_code,
                              json.loads(row.response_headers or "[]"), row.response_body or b"")
            # Released between our insert and our read: try to claim again.
        return Stored(PROCESSING, None, None, [], b"")

    async def complete(self, row_id: str, fingerprint: str, status_code: int,
                       headers: list[list[str]], body: bytes) -> None:
        async with self.session_factory() as session:
            await session.exec(update(KEYS).where(KEYS.c.id == row_id).values(  # type: ignore[call-overload]
                state=DONE, fingerprint=fingerprint, status_code=status_code,
                response_headers=json.dumps(headers), response_body=body,
                completed_at=datetime.now(timezone.utc)))
            await session.commit()

    async def release(self, row_id: str) -> None:
        """Best effort: when the database is away the lease frees the key later."""
        try:
            async with self.session_factory() as session:
                await session.exec(delete(KEYS).where(KEYS.c.id == row_id, KEYS.c.state == PROCESSING))  # type: ignore[call-overload]
                await session.commit()
        except Exception as exc:
            log.debug("idempotency.release_failed", error=type(exc).__name__)

    async def purge(self) -> int:
        cutoff = datetime.now(timezone.utc) - max(self.retention, self.lease)
        async with self.session_factory() as session:
            result = await session.exec(delete(KEYS).where(KEYS.c.created_at < cutoff))  # type: ignore[call-overload]
            await session.commit()
            return result.rowcount or 0

    async def purge_forever(self) -> None:
        """A runtime background task: drop keys older than the retention, once an interval."""
        while True:
            try:
                purged = await self.purge()
                if purged:
                    log.info("idempotency.purged", count=purged)
            except Exception as exc:  # the database is away: try again next round
                log.debug("idempotency.purge_failed", error=type(exc).__name__)
            await asyncio.sleep(self.settings.idempotency_purge_interval_s)


def _error(status: int, code: str, message: str, message_en: str, headers: dict[str, str] | None = None):
    body = json.dumps({"error": {"code": code, "message": message, "message_en": message_en}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return status, raw, body


def _key_problem():
    return _error(400, "kunci_idempotensi_tidak_valid",
                  f"Idempotency-Key harus 1 sampai {MAX_KEY_LENGTH} karakter ASCII yang terlihat.",
                  f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters.")


def _in_flight():
    return _error(409, "kunci_idempotensi_sedang_diproses",
                  "Permintaan dengan Idempotency-Key ini masih diproses; coba lagi sebentar lagi.",
                  "A request with this Idempotency-Key is still being processed; retry shortly.",
                  {"Retry-After": "1"})


def _reused():
    return _error(422, "kunci_idempotensi_dipakai_ulang",
                  "Idempotency-Key ini sudah dipakai untuk permintaan dengan isi berbeda; gunakan kunci baru.",
                  "This Idempotency-Key was used for a request with a different body; use a new key.")


def _storable(status: int) -> bool:
    # 408 and 429 say "try again": storing them would make the retry useless.
    return 200 <= status < 300 or (400 <= status < 500 and status not in (408, 429))


class IdempotencyMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): request bodies stream through untouched."""

    def __init__(self, app, *, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope["headers"]}
        raw_key = headers.get(HEADER.encode())
        if raw_key is None:
            return await self.app(scope, receive, send)
        key = raw_key.decode("latin-1").strip()
        if len(key) >= 2 and key[0] == key[-1] == '"':  # the draft's sf-string form
            key = key[1:-1]
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(33 <= ord(c) <= 126 for c in key):
            return await _send(send, *_key_problem())

        principal = _principal(scope, headers.get(b"authorization", b""))
        method, path = scope["method"], scope["path"]
        row_id = hashlib.sha256("\n".join((principal, method, path, key)).encode()).hexdigest()
        hasher = hashlib.sha256(b"?" + scope.get("query_string", b"") + b"\n")
        length = headers.get(b"content-length")
        buffered = length is not None and length.isdigit() and int(length) <= BUFFER_LIMIT
        body = b""
        if buffered:
            body = await _read_body(receive)
            hasher.update(body)
        fingerprint = hasher.hexdigest() if buffered else None

        stored = await self.store.claim(row_id, key=key, principal=principal, method=method,
                                        path=path, fingerprint=fingerprint)
        if stored is not None:
            if stored.state != DONE:
                return await _send(send, *_in_flight())
            if fingerprint is None:  # a large body: hash it as it arrives, keep none of it
                while True:
                    message = await receive()
                    hasher.update(message.get("body", b""))
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
                fingerprint = hasher.hexdigest()
            if fingerprint != stored.fingerprint:
                return await _send(send, *_reused())
            replay = [(k.encode(), v.encode()) for k, v in stored.headers]
            replay += [(b"content-length", str(len(stored.body)).encode()), (REPLAYED_HEADER.lower().encode(), b"true")]
            return await _send(send, stored.status_code or 200, replay, stored.body)

        await self._run_claimed(scope, receive, send, row_id, hasher, body if buffered else None)

    async def _run_claimed(self, scope, receive, send, row_id: str, hasher, body: bytes | None) -> None:
        read_all = body is not None
        pending_body = body

        async def receive_hashed():
            nonlocal read_all, pending_body
            if pending_body is not None:  # the body read before the claim, handed over once
                message = {"type": "http.request", "body": pending_body, "more_body": False}
                pending_body = None
                return message
            message = await receive()
            if not read_all and message["type"] == "http.request":
                hasher.update(message.get("body", b""))
                read_all = not message.get("more_body", False)
            return message

        start: dict[str, Any] | None = None
        chunks: list[bytes] = []
        size = 0
        passing_through = False
        finished = False

        async def send_held(message) -> None:
            nonlocal start, size, passing_through, finished
            if passing_through:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if more and size <= STORE_LIMIT:
                return
            assert start is not None
            status = start["status"]
            if not more and size <= STORE_LIMIT and read_all and _storable(status):
                kept = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in start["headers"]
                        if k.lower() in STORED_HEADERS]
                try:
                    await self.store.complete(row_id, hasher.hexdigest(), status, kept, b"".join(chunks))
                    finished = True
                except Exception as exc:  # the answer still goes out; the key is freed below
                    log.warning("idempotency.store_failed", error=type(exc).__name__)
            if not finished:
                await self.store.release(row_id)
                finished = True
            # Too large to keep, or not kept: send what is held and pass the rest through.
            passing_through = True
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": more})

        try:
            await self.app(scope, receive_hashed, send_held)
        finally:
            if not finished:  # the handler raised or never answered: the key may be retried
                await self.store.release(row_id)


def _principal(scope, authorization: bytes) -> str:
    """The token's subject when it is valid; else a hash of the Authorization header (such a
    request is answered 401 anyway, and must not share keys with a real subject)."""
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and token:
        try:
            secret = scope["app"].state.settings.jwt_secret
            claims = jwt.decode(token, secret, algorithms=["HS256"])
            if isinstance(claims.get("sub"), str):
                return "sub:" + claims["sub"][:120]
        except Exception:
            pass
    return "auth:" + hashlib.sha256(authorization).hexdigest()[:64]


async def _read_body(receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _send(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
