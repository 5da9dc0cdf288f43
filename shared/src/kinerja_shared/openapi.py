"""What every operation can answer besides its own success, written into the OpenAPI document
so clients (and the fuzz test, tests/fuzz) know it: the shared error body on every 4xx/5xx, and
the answers the conventions add to every route.

- operations that need a token (they depend on ``kinerja_shared.auth.current_principal``) get
  the ``bearerAuth`` security scheme, 401 and 403;
- every operation but liveness: 422 (a malformed parameter, header or body) and 503
  (``basis_data_tidak_tersedia`` with ``Retry-After``);
- operations with a path parameter or a ``*_id`` query parameter: 404 (nothing with that id,
  or not for this caller);
- operations with a request body: 413 ``badan_permintaan_terlalu_besar`` (kinerja_shared.body_limits);
- POST/PUT/PATCH (the Idempotency-Key middleware): 400 ``kunci_idempotensi_tidak_valid``, 409
  ``kunci_idempotensi_sedang_diproses``, 422 ``kunci_idempotensi_dipakai_ulang``.

Path parameters named ``npsn`` and ``nip`` get the identifiers' shapes (8 and 18 digits).
A route's own ``responses=`` keep their descriptions (they name the route's codes); this only
adds the missing statuses and the body schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, routing
from pydantic import BaseModel, Field

from kinerja_shared import auth

ERROR_SCHEMA = "ErrorResponse"
SECURITY_SCHEME = "bearerAuth"
WRITE_METHODS = ("post", "put", "patch")
# Liveness answers without touching anything; readiness and metrics declare their own.
NO_DEFAULTS = {("get", "/health/live"), ("get", "/health/ready"), ("get", "/metrics")}


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine code, Indonesian snake_case")
    message: str = Field(description="Bahasa Indonesia")
    message_en: str = Field(description="English")
    details: Any = Field(None, description="what exactly was wrong: [{field, problem}] for 422, ids for 409")


class ErrorResponse(BaseModel):
    error: ErrorBody


_DEFAULT_DESCRIPTIONS = {
    "400": "`kunci_idempotensi_tidak_valid`: an empty, over-long or non-ASCII Idempotency-Key",
    "401": "`token_tidak_ada`, `token_tidak_valid`, `token_kedaluwarsa`, `token_klaim_wajib_tidak_ada`, "
           "`token_penerbit_salah`, `token_audiens_salah`, `token_masa_berlaku_terlalu_panjang`, "
           "`token_belum_berlaku`, `token_kunci_tidak_dikenal`: no valid bearer token (docs/api.md, Auth)",
    "403": "the token's role or scope may not do this (docs/api.md, who may do what)",
    "404": "`tidak_ditemukan` and the resource's own codes: nothing with this id for this caller",
    "409": "`kunci_idempotensi_sedang_diproses` (with Retry-After): the first request with this "
           "Idempotency-Key is still running",
    "413": "`badan_permintaan_terlalu_besar` (details.max_bytes): a body over KINERJA_HTTP_MAX_BODY_BYTES "
           "(or the route's own limit)",
    "422": "`input_tidak_valid` (details: [{field, problem}]): a malformed parameter, header or body",
    "503": "`basis_data_tidak_tersedia` and other `*_tidak_tersedia` (with Retry-After): a "
           "dependency is away for now; retry with the same Idempotency-Key",
}
_BODY_422 = "; `json_terlalu_bersarang`: a JSON body nested deeper than the limit"
_WRITE_422 = "; `kunci_idempotensi_dipakai_ulang`: the Idempotency-Key was used with another body"


def _routes(app: FastAPI) -> list[Any]:
    """Every route, those of included routers too (FastAPI 0.16x keeps them behind the
    router; older versions copy them into app.routes)."""
    iterate = getattr(routing, "iter_route_contexts", None)
    return list(iterate(app.routes)) if iterate else list(app.routes)


def _needs_token(route: Any) -> bool:
    dependant = getattr(route, "dependant", None)
    pending = [dependant] if dependant is not None else []
    while pending:
        dependant = pending.pop()
        if dependant.call is auth.current_principal:
            return True
        pending.extend(dependant.dependencies)
    return False


def document_responses(app: FastAPI) -> None:
    """Wrap ``app.openapi`` (after any other wrapper) to add the conventions' answers."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        guarded = {
            (method.lower(), route.path_format)
            for route in _routes(app) if _needs_token(route)
            for method in route.methods or ()
        }
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name, definition in _error_schemas().items():
            schemas.setdefault(name, definition)
        if guarded:
            components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "an access token (docs/api.md, Auth)",
            }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in ("get", "post", "put", "patch", "delete", "head", "options"):
                    continue
                _complete(operation, method, path, needs_token=(method, path) in guarded)
        # FastAPI's own 422 body ({"detail": [...]}) is never sent: the conventions answer ours.
        for name in ("HTTPValidationError", "ValidationError"):
            if not _referenced(schema, f"#/components/schemas/{name}"):
                schemas.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# The field's identifiers (kinerja_shared.identifiers) where a path names them.
IDENTIFIER_PATTERNS = {"npsn": "^[0-9]{8}$", "nip": "^[0-9]{18}$"}


def _complete(operation: dict, method: str, path: str, *, needs_token: bool) -> None:
    for parameter in operation.get("parameters", []):
        pattern = IDENTIFIER_PATTERNS.get(parameter.get("name", ""))
        if parameter.get("in") == "path" and pattern:
            parameter.setdefault("schema", {}).setdefault("pattern", pattern)
    responses = operation.setdefault("responses", {})
    statuses: list[str] = []
    if (method, path) not in NO_DEFAULTS:
        statuses += ["422", "503"]
    if needs_token:
        operation.setdefault("security", [{SECURITY_SCHEME: []}])
        statuses += ["401", "403"]
    if "{" in path or any(p.get("in") == "query" and p.get("name", "").endswith("_id")
                          for p in operation.get("parameters", [])):
        statuses.append("404")
    if method in WRITE_METHODS:
        statuses += ["400", "409"]
    if "requestBody" in operation:
        statuses.append("413")
    for status in statuses:
        if status not in responses:
            description = _DEFAULT_DESCRIPTIONS[status]
            if status == "422" and method in WRITE_METHODS:
                description += _WRITE_422
            if status == "422" and "requestBody" in operation:
                description += _BODY_422
            responses[status] = {"description": description}
    for status, response in responses.items():
        if not status.startswith(("4", "5")):
            continue
        content = response.setdefault("content", {})
        json_body = content.setdefault("application/json", {})
        schema = json_body.get("schema")
        if schema is None or schema == {"$ref": "#/components/schemas/HTTPValidationError"}:
            json_body["schema"] = schema = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
        if status == "503" and schema == {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}:
            response.setdefault("headers", {}).setdefault("Retry-After", {
                "description": "seconds to wait before retrying", "required": True,
                "schema": {"type": "integer", "minimum": 0},
            })


def _error_schemas() -> dict[str, dict]:
    schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {ERROR_SCHEMA: schema, **definitions}


def _referenced(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_referenced(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_referenced(v, ref) for v in node)
    return False
