"""Hardened answers: security headers on every response, the API docs served from this
process (no CDN) and switchable off, and /metrics behind a bearer token.

- Every answer: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer`` and a Content-Security-Policy. The API only answers JSON,
  so its policy allows nothing (``default-src 'none'; frame-ancestors 'none'``). The docs pages
  (``/docs``) load Swagger UI's script, stylesheet and favicon from this process (the
  ``swagger-ui-bundle-v2`` package, Swagger UI 5: FastAPI's own page pulls them from a CDN) and
  the start script is a file, not inline, so scripts stay ``'self'`` only; Swagger UI sets a few
  inline styles and data: icons, hence ``style-src 'unsafe-inline'`` and ``img-src data:``
  there and nowhere else.
- ``KINERJA_DOCS_ENABLED``: ``/docs`` and ``/openapi.json`` (default: on, off when
  ``KINERJA_ENVIRONMENT=production``).
- ``KINERJA_METRICS_TOKEN``: when set, ``/metrics`` wants ``Authorization: Bearer <token>``
  (Prometheus: ``authorization: {credentials_file: ...}``); unset, it is open in development
  and refused (403 ``metrik_butuh_token``) in production.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from kinerja_shared.errors import AppError, Forbidden, Unauthorized
from kinerja_shared.settings import ServiceSettings

DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

# The only Swagger UI files the page loads (the package also holds source maps and ES builds).
_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_START_SCRIPT = f"""window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_PATH}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
  validatorUrl: null,
}});
"""


class NulRefusal:
    """A NUL character in the path or the query string is 422 ``input_tidak_valid``: PostgreSQL
    cannot store or even compare it (a 500 before), SQLite would keep it and pass it on in
    events to services on PostgreSQL. Bodies: kinerja_shared.limits.oversize."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"")
            where = ("path" if "\x00" in scope.get("path", "")
                     else "query" if b"\x00" in query or b"%00" in query.lower() else None)
            if where is not None:
                await JSONResponse(nul_error(where).to_dict(), status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def nul_error(field: str) -> AppError:
    return AppError("input_tidak_valid", "Data yang dikirim tidak valid.",
                    "The request body or parameters are invalid.", status_code=422,
                    details=[{"field": field, "problem": "mengandung karakter NUL (\\u0000)"}])


class SecurityHeaders:
    """Pure ASGI, so it also covers answers other middleware writes itself (a 500, a 503)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        policy = DOCS_CSP if path == DOCS_PATH or path.startswith(DOCS_PATH + "/") else API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    headers[name] = value
                headers["Content-Security-Policy"] = policy
            await send(message)

        await self.app(scope, receive, send_with_headers)


def docs_enabled(settings: ServiceSettings) -> bool:
    if settings.docs_enabled is not None:
        return settings.docs_enabled
    return settings.environment != "production"


def install_docs(app: FastAPI, title: str) -> None:
    """Swagger UI at /docs from local files (the app is built with ``docs_url=None``)."""
    page = f"""<!DOCTYPE html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{_escape(title)}</title>
<link rel="stylesheet" href="{DOCS_PATH}/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="{DOCS_PATH}/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_PATH}/assets/swagger-ui-bundle.js"></script>
<script src="{DOCS_PATH}/start.js"></script>
</body>
</html>
"""

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(DOCS_PATH + "/start.js", include_in_schema=False)
    async def docs_start() -> Response:
        return Response(_START_SCRIPT, media_type="text/javascript; charset=utf-8")

    @app.get(DOCS_PATH + "/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        media_type = _ASSETS.get(name)
        if media_type is None:
            return Response(status_code=404)
        return FileResponse(str(swagger_ui_path / name), media_type=media_type,
                            headers={"Cache-Control": "public, max-age=86400"})


def require_metrics_access(request: Request, settings: ServiceSettings) -> None:
    token = settings.metrics_token
    if not token:
        if settings.environment == "production":
            raise Forbidden("metrik_butuh_token",
                            "Metrik tertutup: atur KINERJA_METRICS_TOKEN agar Prometheus dapat membacanya.",
                            "Metrics are closed in production until KINERJA_METRICS_TOKEN is set.")
        return
    sent = request.headers.get("authorization", "")
    scheme, _, credentials = sent.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
        raise Unauthorized("token_metrik_tidak_valid", "Token metrik tidak ada atau salah.",
                           "Missing or wrong metrics token.", headers={"WWW-Authenticate": "Bearer"})


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
