"""The e-Kinerja client: the one place that talks HTTP to BKN's service (or its simulator).

The rest of the service sees :class:`EkinerjaClient` only. :class:`HttpEkinerjaClient` gets both
tokens (API manager: OAuth2 client credentials; SSO: password grant), caches them until shortly
before they expire, refreshes them once when a call answers 401, and never logs them.
Transport failures (timeout, connection refused or dropped) become :class:`EkinerjaUnreachable`;
every HTTP answer, good or bad, becomes an :class:`EkinerjaResponse` for the domain to judge.

The HTTP client is aiohttp: its C-accelerated HTTP/1.1 parser and connection pool cost about
0.25 ms of CPU per save call against the simulator, httpx (pure-Python h11 and httpcore) about
1.1 ms (measured in one process, 32 calls in flight, see bench/README.md). At 300 results a
second on two cores that difference is a quarter of a core.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import aiohttp

from kinerja_shared.logging import get_logger

log = get_logger(__name__)

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

    async def save_rencana_skp(self, payload: dict[str, Any]) -> EkinerjaResponse: ...

    async def rencana_skp_history(self, nip: str) -> EkinerjaResponse: ...

    async def save_evaluasi_periodik(self, payload: dict[str, Any]) -> EkinerjaResponse: ...

    async def evaluasi_periodik_history(self, nip: str) -> EkinerjaResponse: ...

    async def aclose(self) -> None: ...


@dataclass
class _Tokens:
    api: str
    sso: str
    expires_at: float  # time.monotonic()
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Answer:
    """An HTTP answer read to the end (the connection goes back to the pool at once)."""

    status: int
    body: bytes
    retry_after: str | None

    def json(self) -> Any:
        return json.loads(self.body)


class HttpEkinerjaClient:
    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        timeout_s: float = 10.0,
        max_connections: int = 20,
    ) -> None:
        self._base_url = str(base_url).rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_connections = max_connections
        # Made on first use: an aiohttp session belongs to the event loop it was made in.
        self._session: aiohttp.ClientSession | None = None
        self._credentials = (client_id, client_secret, username, password)
        self._tokens: _Tokens | None = None
        self._lock = asyncio.Lock()
        self.token_fetches = 0  # for metrics and tests

    def __repr__(self) -> str:  # never show credentials or tokens
        return f"HttpEkinerjaClient({self._base_url})"

    async def save_kinerja_periodik(self, payload: dict[str, Any]) -> EkinerjaResponse:
        return await self._call("POST", "/kinerjaperiodik/save", body=json.dumps(payload).encode())

    async def kinerja_periodik_history(self, nip: str) -> EkinerjaResponse:
        return await self._call("GET", f"/pns/rw-kinerjaperiodik/{nip}")

    # Agreed plans (SKP) and periodic reviews: this project's SIASN-like endpoints (domain/mapping.py).
    async def save_rencana_skp(self, payload: dict[str, Any]) -> EkinerjaResponse:
        return await self._call("POST", "/rencanaskp/save", body=json.dumps(payload).encode())

    async def rencana_skp_history(self, nip: str) -> EkinerjaResponse:
        return await self._call("GET", f"/pns/rw-rencanaskp/{nip}")

    async def save_evaluasi_periodik(self, payload: dict[str, Any]) -> EkinerjaResponse:
        return await self._call("POST", "/evaluasiperiodik/save", body=json.dumps(payload).encode())

    async def evaluasi_periodik_history(self, nip: str) -> EkinerjaResponse:
        return await self._call("GET", f"/pns/rw-evaluasiperiodik/{nip}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Every connection is kept alive (one per call in flight, up to the limit).
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def _call(self, method: str, path: str, body: bytes | None = None) -> EkinerjaResponse:
        stale: _Tokens | None = None
        while True:
            tokens = await self._current_tokens(stale)
            if isinstance(tokens, EkinerjaResponse):  # a token endpoint refused us
                return tokens
            headers = tokens.headers
            if body is not None:
                headers = {**headers, "Content-Type": "application/json"}
            answer = await self._send(method, path, data=body, headers=headers)
            if answer.status != 401 or stale is not None:
                return _to_response(answer)
            log.info("ekinerja.token_refused_refreshing", path=path)
            stale = tokens  # refresh once, then accept the answer

    async def _current_tokens(self, stale: _Tokens | None) -> _Tokens | EkinerjaResponse:
        t = self._tokens
        # Reuse unless it is the pair that was just refused (another call may have
        # refreshed it meanwhile) or it is about to expire. (Checked before the lock too: the
        # lock is only needed to fetch.)
        if t is not None and t is not stale and t.expires_at - TOKEN_MARGIN_S > time.monotonic():
            return t
        async with self._lock:
            t = self._tokens
            if t is not None and t is not stale and t.expires_at - TOKEN_MARGIN_S > time.monotonic():
                return t
            self._tokens = None
            client_id, client_secret, username, password = self._credentials
            api = await self._send("POST", "/oauth2/token", data={
                "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
            })
            if api.status != 200:
                return _token_refused("API Manager", api)
            sso = await self._send("POST", "/sso/token", data={
                "grant_type": "password", "username": username, "password": password,
            })
            if sso.status != 200:
                return _token_refused("SSO", sso)
            try:
                api_body, sso_body = api.json(), sso.json()
                ttl = min(float(api_body.get("expires_in", 300)), float(sso_body.get("expires_in", 300)))
                api_token, sso_token = api_body["access_token"], sso_body["access_token"]
            except (ValueError, KeyError, TypeError, AttributeError):
                return EkinerjaResponse(502, {"message": "Jawaban token e-Kinerja tidak dapat dibaca"})
            self._tokens = _Tokens(api_token, sso_token, time.monotonic() + ttl, headers={
                "Authorization": f"Bearer {api_token}", "Auth": f"bearer {sso_token}",
            })
            self.token_fetches += 1
            log.info("ekinerja.tokens_obtained", expires_in_s=ttl)  # never the tokens themselves
            return self._tokens

    async def _send(self, method: str, path: str, **kwargs: Any) -> _Answer:
        try:
            async with self._http().request(method, self._base_url + path, **kwargs) as response:
                body = await response.read()
                return _Answer(response.status, body, response.headers.get("Retry-After"))
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise EkinerjaUnreachable("timeout", f"{method} {path}: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            # Refused, reset, dropped mid-answer (ClientPayloadError, ServerDisconnectedError).
            raise EkinerjaUnreachable("connection", f"{method} {path}: {type(exc).__name__}") from exc
        except OSError as exc:
            raise EkinerjaUnreachable("connection", f"{method} {path}: {type(exc).__name__}") from exc


def _to_response(answer: _Answer) -> EkinerjaResponse:
    try:
        body = answer.json()
        if not isinstance(body, dict):
            body = {"data": body}
    except ValueError:
        body = {"message": answer.body[:300].decode("utf-8", "replace")}
    return EkinerjaResponse(answer.status, body, answer.retry_after)


def _token_refused(which: str, answer: _Answer) -> EkinerjaResponse:
    # 401/400 from a token endpoint is our credentials; 5xx is theirs: keep the status.
    status = answer.status if answer.status >= 500 or answer.status == 429 else 401
    return EkinerjaResponse(
        status,
        {"message": f"Token {which} e-Kinerja ditolak (HTTP {answer.status})"},
        answer.retry_after,
    )
