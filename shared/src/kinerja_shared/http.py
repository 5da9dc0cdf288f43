"""HTTP conventions every service shares: JSON errors, correlation ids, Idempotency-Key,
health, metrics.

Errors are ``{"error": {"code", "message" (Bahasa Indonesia), "message_en", "details"}}``.
Bad input is a 4xx with a stable code; an unexpected fault is a 500 with the code
``kesalahan_internal`` and the correlation id, never a stack trace. A database that cannot be
reached is not a fault of ours: 503 ``basis_data_tidak_tersedia`` with ``Retry-After``, one
warning when the outage starts and one info line when the database answers again.

Readiness (``/health/ready``) fails only on what the service needs to answer HTTP (the
database; object storage for evidence). Other dependencies (NATS) are *details*: shown, never
failing, because the outbox holds events while the broker is away and a broker blip must not
take every replica out of the load balancer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Literal

import structlog
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

from kinerja_shared.body_limits import BodyLimitMiddleware, JsonDepthMiddleware, too_large_error
from kinerja_shared.correlation import HTTP_HEADER, accept, set_correlation_id
from kinerja_shared.errors import AppError, DependencyUnavailable
from kinerja_shared.hardening import (
    NulRefusal,
    SecurityHeaders,
    docs_enabled,
    install_docs,
    nul_error,
    require_metrics_access,
)
from kinerja_shared.idempotency import IdempotencyMiddleware, IdempotencyStore
from kinerja_shared.logging import get_logger
from kinerja_shared.openapi import ErrorResponse, document_responses
from kinerja_shared.settings import ServiceSettings

log = get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


class Readiness(BaseModel):
    status: Literal["ok", "tidak_siap"]
    checks: dict[str, str]
    details: dict[str, str]


# A detail of /health/ready that never fails it: returns a short state ("terhubung").
DetailCheck = Callable[[], Awaitable[str]]

DATABASE_RETRY_AFTER_S = 5
# SQLSTATE classes of PostgreSQL that mean "not reachable now", not "your query is wrong":
# 08 connection exception, 53 insufficient resources, 57P operator intervention (shutdown,
# restart), 3D000 the database does not exist (dropped under us).
_PG_UNAVAILABLE = ("08", "53", "57P", "3D000")
_SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "unable to open database",
                       "disk i/o error")
_DRIVER_MODULES = ("sqlalchemy", "asyncpg", "aiosqlite")


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached (or stays locked past the busy
    timeout), as opposed to a bug or a constraint: those stay 4xx/500."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, sa_exc.IntegrityError):
            return False
        if isinstance(current, sa_exc.TimeoutError):  # no connection free in the pool in time
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.InterfaceError):  # "connection is closed"
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_PG_UNAVAILABLE):
            return True
        if isinstance(current, sqlite3.OperationalError) and str(current).lower().startswith(_SQLITE_UNAVAILABLE):
            return True
        # Refused or timed-out connects arrive raw (OSError, TimeoutError) from the driver.
        if isinstance(current, (OSError, TimeoutError)) and _raised_by_driver(current):
            return True
        # SQLAlchemy keeps the driver's exception in .orig (and usually as the cause too).
        pending += [e for e in (getattr(current, "orig", None), current.__cause__, current.__context__)
                    if isinstance(e, BaseException)]
    return False


# PostgreSQL's character_not_in_repertoire: a NUL character in a text parameter.
_NUL_IN_TEXT = "22021"


def _sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE anywhere in ``exc``'s chain (SQLAlchemy wraps the driver's)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate
        pending += [e for e in (getattr(current, "orig", None), current.__cause__, current.__context__)
                    if isinstance(e, BaseException)]
    return None


def _raised_by_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


class DatabaseOutage:
    """One warning when the database goes away, one info line when it answers again; the
    requests in between are answered 503 without a log line (let alone a traceback) each."""

    def __init__(self) -> None:
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning("database.unavailable", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")

    def recovered(self) -> None:
        if self.down:
            self.down = False
            log.info("database.recovered")

    def watch(self, engine: AsyncEngine) -> None:
        """Any statement that runs through the engine proves the database is back."""
        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _after(*_args) -> None:
            if self.down:
                self.recovered()


def install_conventions(
    app: FastAPI,
    readiness: dict[str, ReadinessCheck],
    *,
    details: dict[str, DetailCheck] | None = None,
    idempotency: IdempotencyStore | None = None,
    outage: DatabaseOutage | None = None,
    settings: ServiceSettings | None = None,
) -> None:
    """``readiness``: checks that fail /health/ready; ``details``: shown there, never failing;
    ``idempotency``: the store of Idempotency-Key answers (no store, no Idempotency-Key);
    ``settings``: the docs switch and the metrics token (kinerja_shared.hardening). The app is
    built with ``docs_url=None, redoc_url=None`` (FastAPI's pages load from a CDN) and
    ``openapi_url`` per :func:`kinerja_shared.hardening.docs_enabled`."""
    details = details if details is not None else {}
    settings = settings or ServiceSettings()
    outage = outage or DatabaseOutage()
    app.state.database_outage = outage
    # Innermost: a route's own max_body_size (uploads) can lift it, and an Idempotency-Key
    # replay of an upload is hashed as it streams, not refused (that middleware holds at most
    # 1 MiB itself).
    app.add_middleware(BodyLimitMiddleware, max_body_size=settings.http_max_body_bytes)
    if idempotency is not None:
        # Added before the correlation middleware, so it runs inside it: its answers (and a
        # 503 when the claim cannot reach the database) carry the correlation id.
        app.add_middleware(IdempotencyMiddleware, store=idempotency)
        _declare_idempotency_key(app)
    document_responses(app)
    # Outside the size limit (it holds at most the limit itself; a route that lifts the limit
    # still gets its body), inside the correlation middleware (its 422 carries the id).
    app.add_middleware(JsonDepthMiddleware, max_bytes=settings.http_max_body_bytes)
    # Inside the correlation middleware too: its 422 carries the id.
    app.add_middleware(NulRefusal)

    @app.middleware("http")
    async def correlation_middleware(request: Request, call_next):
        correlation_id = accept(request.headers.get(HTTP_HEADER))  # invalid: a fresh one
        structlog.contextvars.unbind_contextvars("event_id", "event_type", "subject")
        set_correlation_id(correlation_id)
        try:
            response = await call_next(request)
        except Exception as exc:  # the last line of defence: log it, answer without a trace
            if database_unavailable(exc):
                outage.failed(exc)
                response = _app_error_response(DependencyUnavailable("database", DATABASE_RETRY_AFTER_S))
            elif _sqlstate(exc) == _NUL_IN_TEXT:  # a NUL no edge check saw (a form field)
                response = _app_error_response(nul_error("input"))
            else:
                log.exception("http.unhandled", path=request.url.path)
                response = _internal_error(correlation_id)
        response.headers[HTTP_HEADER] = correlation_id
        return response

    @app.exception_handler(AppError)
    async def app_error_handler(_request: Request, exc: AppError):
        return _app_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_handler(_request: Request, exc: RequestValidationError):
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        return JSONResponse(
            {
                "error": {
                    "code": "input_tidak_valid",
                    "message": "Data yang dikirim tidak valid.",
                    "message_en": "The request body or parameters are invalid.",
                    "details": details,
                }
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error_handler(_request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:
            # Only the framework raises these (ours are AppError): a body it could not parse
            # (not UTF-8, a broken multipart form). docs/api.md promises 422 for that.
            return JSONResponse(
                {
                    "error": {
                        "code": "input_tidak_valid",
                        "message": "Data yang dikirim tidak dapat dibaca.",
                        "message_en": "The request body could not be parsed.",
                        "details": [{"field": "body", "problem": str(exc.detail)}],
                    }
                },
                status_code=422,
            )
        if exc.status_code == 413:  # a body over its limit (kinerja_shared.body_limits)
            return _app_error_response(too_large_error(_request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)))
        codes = {404: ("tidak_ditemukan", "Alamat tidak ditemukan."), 405: ("metode_tidak_diizinkan", "Metode tidak diizinkan.")}
        code, message = codes.get(exc.status_code, ("permintaan_tidak_valid", "Permintaan tidak valid."))
        return JSONResponse(
            {"error": {"code": code, "message": message, "message_en": str(exc.detail)}},
            status_code=exc.status_code,
        )

    @app.get("/health/live", tags=["health"], summary="Liveness: the process answers")
    async def live() -> dict:
        return {"status": "ok"}

    @app.get(
        "/health/ready", tags=["health"],
        summary="Readiness: what answering HTTP needs (database; object storage for evidence); "
                "NATS shown as a detail, never failing",
        responses={200: {"model": Readiness, "description": "ready"},
                   503: {"model": Readiness, "description": "`tidak_siap`: a check failed (named in `checks`)"}},
    )
    async def ready() -> Response:
        checks: dict[str, str] = {}
        ok = True
        for name, check in readiness.items():
            try:
                await check()
                checks[name] = "ok"
            except Exception as exc:
                ok = False
                checks[name] = f"gagal: {type(exc).__name__}"
                if name == "database":
                    outage.failed(exc)
        return JSONResponse(
            {"status": "ok" if ok else "tidak_siap", "checks": checks, "details": await _details(details)},
            status_code=200 if ok else 503,
        )

    @app.get(
        "/metrics", tags=["health"], summary="Prometheus metrics (kinerja_nats_connected among them)",
        responses={
            200: {"description": "the Prometheus text format", "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
            401: {"model": ErrorResponse, "description": "`token_metrik_tidak_valid`: KINERJA_METRICS_TOKEN is set and was not sent"},
            403: {"model": ErrorResponse, "description": "`metrik_butuh_token`: production without KINERJA_METRICS_TOKEN"},
        },
    )
    async def metrics(request: Request) -> Response:
        require_metrics_access(request, settings)
        await _details(details)  # the detail checks refresh their gauges
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if docs_enabled(settings):
        install_docs(app, app.title)
    # Added last, so outermost: every answer carries the headers, other middleware's own too.
    app.add_middleware(SecurityHeaders)


async def _details(details: dict[str, DetailCheck]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, check in details.items():
        try:
            out[name] = await check()
        except Exception as exc:
            out[name] = f"gagal: {type(exc).__name__}"
    return out


def _app_error_response(exc: AppError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=exc.headers)


def _internal_error(correlation_id: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": "kesalahan_internal",
                "message": "Terjadi kesalahan pada server. Sebutkan kode korelasi ini saat melapor.",
                "message_en": "Internal error. Quote the correlation id when reporting it.",
                "details": {"correlation_id": correlation_id},
            }
        },
        status_code=500,
    )


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": (
        "One key per logical command, the same on every retry: a repeat with the same body gets the "
        "first answer again (header Idempotent-Replayed: true); another body with the key is 422; "
        "a repeat while the first is still running is 409. Kept at least 24 hours."
    ),
}


def _declare_idempotency_key(app: FastAPI) -> None:
    """The middleware serves every POST/PUT/PATCH, so the OpenAPI document says so on each."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                if method in ("post", "put", "patch"):
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY_PARAMETER)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
