"""The e-Kinerja client: the one place that talks HTTP to BKN's service (or its simulator).

The rest of the service sees :class:`EkinerjaClient` only. :class:`HttpEkinerjaClient` gets both
tokens (API manager: OAuth2 client credentials; SSO: password grant), caches them until shortly
before they expire, refreshes them once when a call answers 401, and never logs them.
Transport failures (timeout, connection refused or dropped) become :class:`EkinerjaUnreachable`;
every HTTP answer, good or bad, becomes an :class:`EkinerjaResponse` for the domain to judge.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from kinerja_shared.logging import get_logger

log = get_logger(__name__)

try:
    import sniffio  # noqa: F401
except ImportError:
    # httpcore imports sniffio on every request; without it each failed import scans sys.path
    # again (10% of the worker's time in bench/sync.py). Fail fast instead: same answer, asyncio.
    sys.modules["sniffio"] = None  # type: ignore[assignment]

# Refresh tokens this long before they expire, so none dies in flight.
TOKEN_MARGIN_S = 30.0


@dataclass
class EkinerjaResponse:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: str | None = None

    @property
    def message(self) -> str:
        return str(self.body.get("message") or "")

    @property
    def record_id(self) -> str | None:
        data = self.body.get("mapData") or {}
        value = data.get("id") if isinstance(data, dict) else None
        return str(value) if value else None


class EkinerjaUnreachable(Exception):
    def __init__(self, kind: Literal["timeout", "connection"], detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class EkinerjaClient(Protocol):
    async def save_kinerja_periodik(self, payload: dict[str, Any]) -> EkinerjaResponse: ...

    async def kinerja_periodik_history(self, nip: str) -> EkinerjaResponse: ...

    async def aclose(self) -> None: ...


@dataclass
class _Tokens:
    api: str
    sso: str
    expires_at: float  # time.monotonic()


class HttpEkinerjaClient:
    CONNECTIONS_PER_POOL = 4

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 20,
    ) -> None:
        # Several small pools instead of one big one: httpcore checks every connection of its
        # pool on every request (half the worker's time with 32 connections in bench/sync.py).
        # Each keeps alive all its connections (httpx keeps 20 by default; calls beyond that
        # opened and closed a connection each). A call goes to the least busy pool.
        # (A transport given by a test is one pool already.)
        shards = 1 if transport is not None else max(1, -(-max_connections // self.CONNECTIONS_PER_POOL))
        per_pool = -(-max_connections // shards)
        limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        self._pools = [
            httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport, limits=limits)
            for _ in range(shards)
        ]
        self._busy = [0] * shards
        self._http = self._pools[0]
        self._credentials = (client_id, client_secret, username, password)
        self._tokens: _Tokens | None = None
        self._lock = asyncio.Lock()
        self.token_fetches = 0  # for metrics and tests

    def __repr__(self) -> str:  # never show credentials or tokens
        return f"HttpEkinerjaClient({self._http.base_url})"

    async def save_kinerja_periodik(self, payload: dict[str, Any]) -> EkinerjaResponse:
        return await self._call("POST", "/kinerjaperiodik/save", json=payload)

    async def kinerja_periodik_history(self, nip: str) -> EkinerjaResponse:
        return await self._call("GET", f"/pns/rw-kinerjaperiodik/{nip}")

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    async def _call(self, method: str, path: str, json: Any = None) -> EkinerjaResponse:
        stale: _Tokens | None = None
        while True:
            tokens = await self._current_tokens(stale)
            if isinstance(tokens, EkinerjaResponse):  # a token endpoint refused us
                return tokens
            headers = {"Authorization": f"Bearer {tokens.api}", "Auth": f"bearer {tokens.sso}"}
            response = await self._send(method, path, json=json, headers=headers)
            if response.status_code != 401 or stale is not None:
                return _to_response(response)
            log.info("ekinerja.token_refused_refreshing", path=path)
            stale = tokens  # refresh once, then accept the answer

    async def _current_tokens(self, stale: _Tokens | None) -> _Tokens | EkinerjaResponse:
        async with self._lock:
            t = self._tokens
            # Reuse unless it is the pair that was just refused (another call may have
            # refreshed it meanwhile) or it is about to expire.
            if t is not None and t is not stale and t.expires_at - TOKEN_MARGIN_S > time.monotonic():
                return t
            self._tokens = None
            client_id, client_secret, username, password = self._credentials
            api = await self._send("POST", "/oauth2/token", data={
                "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
            })
            if api.status_code != 200:
                return _token_refused("API Manager", api)
            sso = await self._send("POST", "/sso/token", data={
                "grant_type": "password", "username": username, "password": password,
            })
            if sso.status_code != 200:
                return _token_refused("SSO", sso)
            try:
                api_body, sso_body = api.json(), sso.json()
                ttl = min(float(api_body.get("expires_in", 300)), float(sso_body.get("expires_in", 300)))
                self._tokens = _Tokens(api_body["access_token"], sso_body["access_token"], time.monotonic() + ttl)
            except (ValueError, KeyError, TypeError):
                return EkinerjaResponse(502, {"message": "Jawaban token e-Kinerja tidak dapat dibaca"})
            self.token_fetches += 1
            log.info("ekinerja.tokens_obtained", expires_in_s=ttl)  # never the tokens themselves
            return self._tokens

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            shard = min(range(len(self._pools)), key=self._busy.__getitem__)
            self._busy[shard] += 1
            try:
                return await self._pools[shard].request(method, path, **kwargs)
            finally:
                self._busy[shard] -= 1
        except httpx.TimeoutException as exc:
            raise EkinerjaUnreachable("timeout", f"{method} {path}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise EkinerjaUnreachable("connection", f"{method} {path}: {type(exc).__name__}") from exc


def _to_response(response: httpx.Response) -> EkinerjaResponse:
    try:
        body = response.json()
        if not isinstance(body, dict):
            body = {"data": body}
    except ValueError:
        body = {"message": response.text[:300]}
    return EkinerjaResponse(response.status_code, body, response.headers.get("Retry-After"))


def _token_refused(which: str, response: httpx.Response) -> EkinerjaResponse:
    # 401/400 from a token endpoint is our credentials; 5xx is theirs: keep the status.
    status = response.status_code if response.status_code >= 500 or response.status_code == 429 else 401
    return EkinerjaResponse(
        status,
        {"message": f"Token {which} e-Kinerja ditolak (HTTP {response.status_code})"},
        response.headers.get("Retry-After"),
    )
