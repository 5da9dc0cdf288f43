"""HTTP conventions every service shares: JSON errors, correlation ids, health, metrics.

Errors are ``{"error": {"code", "message" (Bahasa Indonesia), "message_en", "details"}}``.
Bad input is a 4xx with a stable code; an unexpected fault is a 500 with the code
``kesalahan_internal`` and the correlation id, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from kinerja_shared.correlation import HTTP_HEADER, new_id, set_correlation_id
from kinerja_shared.errors import AppError
from kinerja_shared.logging import get_logger

log = get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


def install_conventions(app: FastAPI, readiness: dict[str, ReadinessCheck]) -> None:
    @app.middleware("http")
    async def correlation_middleware(request: Request, call_next):
        correlation_id = request.headers.get(HTTP_HEADER) or new_id()
        structlog.contextvars.unbind_contextvars("event_id", "event_type", "subject")
        set_correlation_id(correlation_id)
        try:
            response = await call_next(request)
        except Exception:  # the last line of defence: log it, answer without a trace
            log.exception("http.unhandled", path=request.url.path)
            response = _internal_error(correlation_id)
        response.headers[HTTP_HEADER] = correlation_id
        return response

    @app.exception_handler(AppError)
    async def app_error_handler(_request: Request, exc: AppError):
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

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
        codes = {404: ("tidak_ditemukan", "Alamat tidak ditemukan."), 405: ("metode_tidak_diizinkan", "Metode tidak diizinkan.")}
        code, message = codes.get(exc.status_code, ("permintaan_tidak_valid", "Permintaan tidak valid."))
        return JSONResponse(
            {"error": {"code": code, "message": message, "message_en": str(exc.detail)}},
            status_code=exc.status_code,
        )

    @app.get("/health/live", tags=["health"], summary="Liveness: the process answers")
    async def live() -> dict:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"], summary="Readiness: database and NATS reachable")
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
        return JSONResponse(
            {"status": "ok" if ok else "tidak_siap", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


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
