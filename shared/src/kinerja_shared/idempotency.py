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
  with ``Retry-After`` (the claim's remaining lease in seconds, rounded up, at most 2).

Only 2xx and 4xx answers are stored (not 408 or 429): a 5xx (a 503 while the database is
away) releases the key so the client can retry with it. The claim is the first thing done: an
``INSERT ... ON CONFLICT DO NOTHING`` of the key row, committed before the handler runs, so two
requests with the same key can never both run it. Keys are kept ``KINERJA_IDEMPOTENCY_RETENTION_H``
hours (24 by default) and then purged.

The claim is a lease of ``KINERJA_IDEMPOTENCY_LEASE_S`` seconds (30 by default) in
``lease_until``, renewed every third of the lease by a heartbeat task for as long as the handler
runs, so a slow request that is alive keeps its key however long it takes. A claim whose request
died without releasing it (the process was killed, the database went away) is no longer renewed
and can be taken over once ``lease_until`` has passed. Each claim carries a random
``claim_token``: only its holder renews, stores or releases it, so a request whose claim was
taken over (it stalled for longer than the lease) cannot extend, overwrite or delete the new
holder's claim. A claim without ``lease_until`` (written before the heartbeat existed) expires a
lease after ``created_at``. Leases are compared with each replica's clock: keep the replicas'
clocks within a small part of the lease of each other (NTP).

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
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel

from kinerja_shared.db import SessionFactory
from kinerja_shared.logging import get_logger
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.tasks import stop_task

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
    # The holder of a processing claim (random per request) and until when its claim holds;
    # the heartbeat moves lease_until on while the request runs.
    claim_token: str | None = Field(default=None, max_length=32)
    lease_until: datetime | None = None


KEYS = IdempotencyKey.__table__


def row_id(principal: str, method: str, path: str, key: str) -> str:
    return hashlib.sha256("\n".join((principal, method, path, key)).encode()).hexdigest()


@dataclass
class Stored:
    state: str
    fingerprint: str | None
    status_code: int | None
    headers: list[list[str]]
    body: bytes
    lease_until: datetime | None = None  # a processing claim's: when it may be taken over


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

    def _lapsed(self, now: datetime):
        """A processing claim nobody renews any more: its lease has passed (or, written before
        lease_until existed, it is older than a lease)."""
        return (KEYS.c.state == PROCESSING) & or_(
            KEYS.c.lease_until < now,
            and_(KEYS.c.lease_until.is_(None), KEYS.c.created_at < now - self.lease))

    def _held_by(self, row_id: str, token: str):
        return (KEYS.c.id == row_id) & (KEYS.c.state == PROCESSING) & (KEYS.c.claim_token == token)

    async def claim(self, row_id: str, *, token: str, key: str, principal: str, method: str, path: str,
                    fingerprint: str | None) -> Stored | None:
        """None when this request (``token``) now holds the key; else what the key holds."""
        for _ in range(3):
            now = datetime.now(timezone.utc)
            async with self.session_factory() as session:
                connection = await session.connection()
                # Expired rows and abandoned claims do not block a new claim.
                await connection.execute(delete(KEYS).where(
                    KEYS.c.id == row_id,
                    ((KEYS.c.state == DONE) & (KEYS.c.created_at < now - self.retention)) | self._lapsed(now)))
                insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
                statement = insert(KEYS).values(
                    id=row_id, idempotency_key=key, principal=principal, method=method, path=path[:1024],
                    fingerprint=fingerprint, state=PROCESSING, created_at=now,
                    claim_token=token, lease_until=now + self.lease,
                ).on_conflict_do_nothing(index_elements=["id"]).returning(KEYS.c.id)
                claimed = (await connection.execute(statement)).first() is not None
                row = None if claimed else (await connection.execute(select(
                    KEYS.c.state, KEYS.c.fingerprint, KEYS.c.status_code, KEYS.c.response_headers,
                    KEYS.c.response_body, KEYS.c.lease_until, KEYS.c.created_at).where(KEYS.c.id == row_id))).first()
                await session.commit()
            if claimed:
                return None
            if row is not None:
                lease_until = row.lease_until or (row.created_at + self.lease if row.created_at else None)
                return Stored(row.state, row.fingerprint, row.status_code,
                              json.loads(row.response_headers or "[]"), row.response_body or b"",
                              _aware(lease_until))
            # Released between our insert and our read: try to claim again.
        return Stored(PROCESSING, None, None, [], b"")

    async def renew(self, row_id: str, token: str) -> bool:
        """Move the claim's lease on by a lease from now; False when ``token`` no longer holds
        the claim (it was taken over, or is already stored or released)."""
        async with self.session_factory() as session:
            result = await session.exec(update(KEYS).where(self._held_by(row_id, token)).values(  # type: ignore[call-overload]
                lease_until=datetime.now(timezone.utc) + self.lease))
            await session.commit()
            return bool(result.rowcount)

    async def complete(self, row_id: str, token: str, fingerprint: str, status_code: int,
                       headers: list[list[str]], body: bytes) -> bool:
        """Store the answer; False (nothing stored) when ``token`` no longer holds the claim."""
        async with self.session_factory() as session:
            result = await session.exec(update(KEYS).where(self._held_by(row_id, token)).values(  # type: ignore[call-overload]
                state=DONE, fingerprint=fingerprint, status_code=status_code,
                response_headers=json.dumps(headers), response_body=body,
                completed_at=datetime.now(timezone.utc), lease_until=None))
            await session.commit()
            return bool(result.rowcount)

    async def release(self, row_id: str, token: str) -> None:
        """Best effort: when the database is away the lease frees the key later."""
        try:
            async with self.session_factory() as session:
                await session.exec(delete(KEYS).where(self._held_by(row_id, token)))  # type: ignore[call-overload]
                await session.commit()
        except Exception as exc:
            log.debug("idempotency.release_failed", error=type(exc).__name__)

    async def purge(self) -> int:
        now = datetime.now(timezone.utc)
        cutoff = now - max(self.retention, self.lease)
        async with self.session_factory() as session:
            # A claim still renewed is a request still running: never purged under it.
            result = await session.exec(delete(KEYS).where(  # type: ignore[call-overload]
                KEYS.c.created_at < cutoff, (KEYS.c.state == DONE) | self._lapsed(now)))
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


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored moment is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


# A live holder renews its lease, so the remaining lease is nearly the whole lease while it
# usually answers in well under a second: a client told to wait that long would wait for nothing.
IN_FLIGHT_RETRY_MAX_S = 2


def _retry_after(lease_until: datetime | None, lease: timedelta) -> int:
    """The claim's remaining lease in whole seconds, rounded up: at least 1, at most
    IN_FLIGHT_RETRY_MAX_S (the holder is alive and finishes soon, or it died and a retry after
    the lease takes the key over)."""
    longest = max(1, min(IN_FLIGHT_RETRY_MAX_S, math.ceil(lease.total_seconds())))
    if lease_until is None:
        return 1
    remaining = (lease_until - datetime.now(timezone.utc)).total_seconds()
    return min(longest, max(1, math.ceil(remaining)))


def _in_flight(retry_after_s: int):
    return _error(409, "kunci_idempotensi_sedang_diproses",
                  "Permintaan dengan Idempotency-Key ini masih diproses; coba lagi sebentar lagi.",
                  "A request with this Idempotency-Key is still being processed; retry shortly.",
                  {"Retry-After": str(retry_after_s)})


def _reused():
    return _error(422, "kunci_idempotensi_dipakai_ulang",
                  "Idempotency-Key ini sudah dipakai untuk permintaan dengan isi berbeda; gunakan kunci baru.",
                  "This Idempotency-Key was used for a request with a different body; use a new key.")


def _storable(status: int) -> bool:
    # 408 and 429 say "try again": storing them would make the retry useless.
    return 200 <= status < 300 or (400 <= status < 500 and status not in (408, 429))


# Releases still running after the request that started them was cancelled (kept referenced).
_CLEANUPS: set[asyncio.Future] = set()


class _Heartbeat:
    """Renews a claim every third of the lease while its request runs, in a background task.

    ``stop`` ends it: it sets an event the task waits on between renewals (a renewal under way
    finishes, it is not cut off mid-statement), and cancels it only if it has not ended within
    ``STOP_GRACE_S`` (a renewal stuck on a database that went away). Because the event is set
    first and synchronously, the task ends at its next turn even if the one stopping it is
    itself cancelled while it waits."""

    STOP_GRACE_S = 2.0

    def __init__(self, store: IdempotencyStore, row_id: str, token: str) -> None:
        self.store, self.row_id, self.token = store, row_id, token
        self.stopping = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"idempotency-heartbeat-{row_id[:12]}")

    async def _run(self) -> None:
        interval = self.store.settings.idempotency_lease_s / 3
        while True:
            try:
                await asyncio.wait_for(self.stopping.wait(), interval)
            except asyncio.TimeoutError:
                pass
            if self.stopping.is_set():
                return
            try:
                if not await self.store.renew(self.row_id, self.token):
                    # Taken over after our lease lapsed (renewals failed or stalled for a lease).
                    log.warning("idempotency.claim_lost", key_id=self.row_id[:12])
                    return
            except Exception as exc:  # the database is away: the next renewal may still make it
                log.warning("idempotency.renew_failed", error=type(exc).__name__)

    async def stop(self) -> None:
        self.stopping.set()
        if not self.task.done():
            await asyncio.wait({self.task}, timeout=self.STOP_GRACE_S)
        await stop_task(self.task)


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

        principal = await _principal(scope, headers.get(b"authorization", b""))
        method, path = scope["method"], scope["path"]
        rid = row_id(principal, method, path, key)
        token = secrets.token_hex(16)
        hasher = hashlib.sha256(b"?" + scope.get("query_string", b"") + b"\n")
        length = headers.get(b"content-length")
        buffered = length is not None and length.isdigit() and int(length) <= BUFFER_LIMIT
        body = b""
        if buffered:
            body = await _read_body(receive)
            hasher.update(body)
        fingerprint = hasher.hexdigest() if buffered else None

        stored = await self.store.claim(rid, token=token, key=key, principal=principal, method=method,
                                        path=path, fingerprint=fingerprint)
        if stored is not None:
            if stored.state != DONE:
                return await _send(send, *_in_flight(_retry_after(stored.lease_until, self.store.lease)))
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

        heartbeat = _Heartbeat(self.store, rid, token)
        try:
            await self._run_claimed(scope, receive, send, rid, token, heartbeat, hasher,
                                    body if buffered else None)
        finally:  # every path: stored, released, raised, cancelled (the client went away)
            await heartbeat.stop()

    async def _run_claimed(self, scope, receive, send, row_id: str, token: str, heartbeat: _Heartbeat,
                           hasher, body: bytes | None) -> None:
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
            # The handler is done with the key: no more renewals, then store or release it.
            await heartbeat.stop()
            if not more and size <= STORE_LIMIT and read_all and _storable(status):
                kept = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in start["headers"]
                        if k.lower() in STORED_HEADERS]
                try:
                    stored = await self.store.complete(row_id, token, hasher.hexdigest(), status, kept,
                                                       b"".join(chunks))
                    finished = True
                    if not stored:  # taken over meanwhile: the new holder's answer is the one kept
                        log.warning("idempotency.claim_lost", key_id=row_id[:12])
                except Exception as exc:  # the answer still goes out; the key is freed below
                    log.warning("idempotency.store_failed", error=type(exc).__name__)
            if not finished:
                await self.store.release(row_id, token)
                finished = True
            # Too large to keep, or not kept: send what is held and pass the rest through.
            passing_through = True
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": more})

        async def release() -> None:
            try:
                await heartbeat.stop()
            finally:
                await self.store.release(row_id, token)

        try:
            await self.app(scope, receive_hashed, send_held)
        finally:
            if not finished:  # the handler raised or never answered: the key may be retried
                # Shielded: when the client went away this task is cancelled, and the server
                # may cancel every await of it again; the release still runs to its end.
                cleanup = asyncio.ensure_future(release())
                _CLEANUPS.add(cleanup)
                cleanup.add_done_callback(_CLEANUPS.discard)
                await asyncio.shield(cleanup)


async def _principal(scope, authorization: bytes) -> str:
    """The token's subject when it verifies (the same verifier as the routes); else a hash of
    the Authorization header (such a request is answered 401 anyway, and must not share keys
    with a real subject)."""
    from kinerja_shared.auth import bearer_token, verifier_for

    token = bearer_token(authorization.decode("latin-1"))
    if token:
        try:
            # In a worker thread: a key fetch from the issuer blocks.
            principal = await anyio.to_thread.run_sync(verifier_for(scope["app"]).verify, token)
            return "sub:" + principal.sub[:120]
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
