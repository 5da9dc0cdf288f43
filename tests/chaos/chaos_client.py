"""The chaos suite's HTTP client: teachers and principals through the public APIs, retrying
what a real client retries (connection errors, 5xx, 429) with backoff, one Idempotency-Key per
logical command reused on every retry, with bounded concurrency. Every failed attempt is
counted by kind (status code, or the exception's class) for the report."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx


@dataclass
class Outcome:
    response: httpx.Response
    attempts: int

    @property
    def status(self) -> int:
        return self.response.status_code

    def json(self) -> dict:
        return self.response.json() if self.response.content else {}

    @property
    def error_code(self) -> str:
        try:
            return self.response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return ""


IN_FLIGHT = "kunci_idempotensi_sedang_diproses"


class GaveUp(RuntimeError):
    pass


class ChaosClient:
    def __init__(self, concurrency: int = 32, give_up_after_s: float = 600, timeout_s: float = 30,
                 names: dict[str, str] | None = None) -> None:
        self.names = names or {}  # "host:port" -> service, for errors_by_service
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5),
                                      limits=httpx.Limits(max_connections=concurrency * 2))
        self.slots = asyncio.Semaphore(concurrency)
        self.give_up_after_s = give_up_after_s
        self.errors: Counter = Counter()  # retried failures: "503", "ConnectError", ...
        self.errors_by_service: Counter = Counter()  # "evidence 500", ...
        self.refusals: Counter = Counter()  # 4xx answers: "409 rencana_belum_disepakati", ...
        self.requests = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, url: str, *, headers: dict, expect: tuple[int, ...] = (200, 201),
                   **kwargs) -> Outcome:
        """One logical command: retried until it is answered with something other than a
        connection error, a 5xx or a 429. A 4xx is returned to the caller (it decides)."""
        key = str(uuid.uuid4())
        service = self.names.get(httpx.URL(url).netloc.decode(), url)
        if "files" in kwargs:  # the same bytes on every retry: httpx picks a new boundary otherwise
            headers = {**headers, "Content-Type": f"multipart/form-data; boundary={key.replace('-', '')}"}
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.slots:
                    self.requests += 1
                    response = await self.http.request(
                        method, url, headers={**headers, "Idempotency-Key": key}, **kwargs)
            except httpx.TransportError as exc:
                self.errors[type(exc).__name__] += 1
                self.errors_by_service[f"{service} {type(exc).__name__}"] += 1
            else:
                if response.status_code in expect:
                    return Outcome(response, attempt)
                outcome = Outcome(response, attempt)
                # The same key still running (or claimed by a request that died with its
                # process, until the claim's lease ends): the server asks to come back.
                in_flight = response.status_code == 409 and outcome.error_code == IN_FLIGHT
                if response.status_code < 500 and response.status_code != 429 and not in_flight:
                    self.refusals[f"{response.status_code} {outcome.error_code}".strip()] += 1
                    return outcome
                kind = f"409 {IN_FLIGHT}" if in_flight else str(response.status_code)
                self.errors[kind] += 1
                self.errors_by_service[f"{service} {kind}"] += 1
            if time.monotonic() - started > self.give_up_after_s:
                raise GaveUp(f"{method} {url}: still failing after {attempt} attempts")
            await asyncio.sleep(min(10.0, 0.2 * 2 ** min(attempt, 6)) * (0.5 + random.random()))

    async def until(self, what: str, fn, timeout_s: float | None = None, interval_s: float = 0.5):
        """Poll ``fn`` (async, returns something truthy when done): events cross services later."""
        deadline = time.monotonic() + (timeout_s or self.give_up_after_s)
        while True:
            found = await fn()
            if found:
                return found
            if time.monotonic() > deadline:
                raise GaveUp(f"timed out waiting for {what}")
            await asyncio.sleep(interval_s * (0.5 + random.random()))
