"""Hardened answers from ServiceRuntime.http_app: security headers on every response, the
docs page served from this process with a CSP that allows exactly what it loads, /docs and
/openapi.json off in production, /metrics behind a token, unparseable bodies 422."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel

from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.hardening import API_CSP, DOCS_CSP
from kinerja_shared.messaging.nats_auth import development_password
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.http import bearer, running_app


class Body(BaseModel):
    year: int


def build(nats_url: str, tmp_path, **overrides):
    if overrides.get("environment") == "production":  # a production start needs an https issuer
        overrides.setdefault("oidc_issuer", "https://sso.example.go.id/realms/kinerja")
        # and a NATS password: the test server's, for planning (nats_auth.development_password).
        overrides.setdefault("nats_password", development_password("planning"))
    settings = ServiceSettings(service_name="planning", database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
                               nats_url=nats_url, **overrides)
    runtime = ServiceRuntime(settings, tables=[])
    router = APIRouter()

    @router.post("/v1/periods")
    async def create(body: Body):
        return {"year": body.year}

    @router.post("/v1/uploads")
    async def upload(plan_id: str = Form(), file: UploadFile = File()):
        return {"plan_id": plan_id}

    @router.get("/v1/boom")
    async def boom():
        raise RuntimeError("secret internals")

    return runtime.http_app(title="Layanan <uji>", description="d", routers=[router])


def assert_hardened(response, csp: str = API_CSP) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == csp
    assert "frame-ancestors 'none'" in csp


async def test_every_answer_carries_the_security_headers(nats_server, tmp_path):
    app = build(nats_server.url, tmp_path)
    async with running_app(app) as client:
        answers = [
            await client.get("/health/live"),
            await client.get("/health/ready"),
            await client.get("/metrics"),
            await client.get("/openapi.json"),
            await client.post("/v1/periods", json={"year": 2026}),  # 200
            await client.post("/v1/periods", json={"year": "x"}),  # 422
            await client.get("/v1/nowhere"),  # 404
            await client.delete("/v1/periods"),  # 405
            await client.get("/v1/boom"),  # 500 written by the correlation middleware
        ]
        assert [r.status_code for r in answers] == [200, 200, 200, 200, 200, 422, 404, 405, 500]
        for r in answers:
            assert_hardened(r)
        assert_hardened(await client.get("/docs"), DOCS_CSP)


async def test_the_docs_page_loads_only_local_files_its_policy_allows(nats_server, tmp_path):
    app = build(nats_server.url, tmp_path)
    async with running_app(app) as client:
        page = await client.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "Layanan &lt;uji&gt;" in html
        assert "http" not in html.replace("http-equiv", "")  # nothing from another origin (no CDN)
        # No inline script: every <script> has a src (the CSP allows scripts from 'self' only).
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
        loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert len(loaded) == 4
        for url in loaded:
            r = await client.get(url)
            assert r.status_code == 200 and len(r.content) > 0, url
        start = (await client.get("/docs/start.js")).text
        assert "SwaggerUIBundle(" in start and '"/openapi.json"' in start
        bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
        assert bundle.headers["content-type"].startswith("text/javascript")
        # Swagger UI 5 renders OpenAPI 3.1 (FastAPI's version); 4.x does not.
        assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.1")
        assert (await client.get("/docs/assets/index.html")).status_code == 404
        assert (await client.get("/redoc")).status_code == 404  # ReDoc only exists from a CDN


@pytest.mark.parametrize(("environment", "switch", "served"), [
    ("development", None, True),
    ("production", None, False),
    ("production", True, True),
    ("development", False, False),
])
async def test_docs_and_openapi_switch(nats_server, tmp_path, environment, switch, served):
    app = build(nats_server.url, tmp_path, environment=environment, docs_enabled=switch)
    async with running_app(app) as client:
        for path in ("/docs", "/docs/start.js", "/docs/assets/swagger-ui.css", "/openapi.json"):
            r = await client.get(path)
            assert r.status_code == (200 if served else 404), path
            assert_hardened(r, DOCS_CSP if path.startswith("/docs") else API_CSP)
        assert (await client.get("/health/live")).status_code == 200
    assert app.openapi()["paths"]  # `make docs` still writes the document


async def test_metrics_behind_a_token(nats_server, tmp_path):
    app = build(nats_server.url, tmp_path, metrics_token="prom-rahasia-123")
    async with running_app(app) as client:
        for headers in ({}, {"Authorization": "Bearer salah"}, {"Authorization": "Basic prom-rahasia-123"},
                        bearer("dinas")):
            r = await client.get("/metrics", headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "token_metrik_tidak_valid"
            assert r.headers["www-authenticate"] == "Bearer"
        r = await client.get("/metrics", headers={"Authorization": "Bearer prom-rahasia-123"})
        assert r.status_code == 200 and "kinerja_nats_connected" in r.text
        assert_hardened(r)


async def test_metrics_closed_in_production_without_a_token_open_in_development(nats_server, tmp_path):
    async with running_app(build(nats_server.url, tmp_path, environment="production")) as client:
        r = await client.get("/metrics")
        assert r.status_code == 403 and r.json()["error"]["code"] == "metrik_butuh_token"
    async with running_app(build(nats_server.url, tmp_path)) as client:
        assert (await client.get("/metrics")).status_code == 200


async def test_unparseable_bodies_are_422(nats_server, tmp_path):
    app = build(nats_server.url, tmp_path)
    async with running_app(app) as client:
        json_type = {"Content-Type": "application/json"}
        for body in (b"{broken", b'{"year": "\xff\xfe"}', b"\xff\xfe\xfd"):
            r = await client.post("/v1/periods", content=body, headers=json_type)
            assert r.status_code == 422, body
            assert r.json()["error"]["code"] == "input_tidak_valid"
            assert r.json()["error"]["details"][0]["field"].startswith("body")
        # A multipart body whose boundary never comes.
        r = await client.post("/v1/uploads", content=b"--nope\r\nrubbish",
                              headers={"Content-Type": "multipart/form-data; boundary=batas"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "input_tidak_valid"
        r = await client.post("/v1/uploads", content=b"x", headers={"Content-Type": "multipart/form-data"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "input_tidak_valid"


def test_the_openapi_document_declares_every_answer_with_the_error_schema(nats_server, tmp_path):
    app = build(nats_server.url, tmp_path)
    router = APIRouter()

    @router.post("/v1/plans/{plan_id}/submit")
    async def submit(plan_id: str, principal: CurrentPrincipal):
        return {}

    @router.get("/v1/schools/{npsn}/people/{nip}")
    async def person(npsn: str, nip: str, principal: CurrentPrincipal):
        return {}

    @router.get("/v1/plans", responses={403: {"description": "`akses_ditolak`: not yours"}})
    async def plans(principal: CurrentPrincipal):
        return {}

    app.include_router(router)
    document = app.openapi()
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    operation = document["paths"]["/v1/plans/{plan_id}/submit"]["post"]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "409", "422", "503"}
    assert "413" in document["paths"]["/v1/periods"]["post"]["responses"]  # it has a body
    shapes = {p["name"]: p["schema"]["pattern"] for p in document["paths"]["/v1/schools/{npsn}/people/{nip}"]["get"]["parameters"]}
    assert shapes == {"npsn": "^[0-9]{8}$", "nip": "^[0-9]{18}$"}
    assert operation["security"] == [{"bearerAuth": []}]
    for status, response in operation["responses"].items():
        if status != "200":
            assert response["content"]["application/json"]["schema"] == error, status
    assert operation["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    listing = document["paths"]["/v1/plans"]["get"]["responses"]
    assert set(listing) == {"200", "401", "403", "422", "503"}  # no path parameter: no 404; a read: no 400/409
    assert listing["403"]["description"] == "`akses_ditolak`: not yours"  # the route's own words kept
    unguarded = document["paths"]["/v1/periods"]["post"]
    assert "security" not in unguarded and "401" not in unguarded["responses"]
    assert set(document["paths"]["/health/live"]["get"]["responses"]) == {"200"}
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["error"]


def build_with_storage(nats_url: str, database_url: str):
    """Routes whose input reaches the database: PostgreSQL cannot hold a NUL character."""
    from sqlmodel import select

    from kinerja_shared.limits import BoundedModel
    from kinerja_shared.messaging.outbox import OutboxMessage

    runtime = ServiceRuntime(ServiceSettings(service_name="planning", database_url=database_url, nats_url=nats_url),
                             tables=[])

    class Note(BoundedModel):
        text: str

    router = APIRouter()

    async def lookup(value: str) -> dict:
        async with runtime.session_factory() as session:
            found = (await session.exec(select(OutboxMessage).where(OutboxMessage.event_type == value))).all()
        return {"found": len(found)}

    @router.get("/v1/things/{thing_id}")
    async def by_path(thing_id: str):
        return await lookup(thing_id)

    @router.get("/v1/things")
    async def by_query(name: str):
        return await lookup(name)

    @router.post("/v1/notes")
    async def by_body(body: Note):
        return await lookup(body.text)

    @router.post("/v1/raw")
    async def raw(request: Request):
        form = await request.form()  # a field no model checks: the database refuses it
        return await lookup(str(form.get("plan_id")))

    return runtime.http_app(title="t", description="d", routers=[router])


async def test_a_nul_character_is_422_not_a_database_500(nats_server, database_url):
    app = build_with_storage(nats_server.url, database_url)
    async with running_app(app) as client:
        assert (await client.get("/v1/things/abc")).json() == {"found": 0}
        answers = {
            "path": await client.get("/v1/things/a%00b"),
            "query": await client.get("/v1/things", params={"name": "a\x00b"}),
            "body": await client.post("/v1/notes", json={"text": "a\x00b"}),
        }
        # A field no model checks: PostgreSQL refuses it (422 from the database's answer),
        # SQLite compares it like any text.
        form = await client.post("/v1/raw", data={"plan_id": "a\x00b"})
        if database_url.startswith("postgresql"):
            answers["form"] = form
        else:
            assert form.status_code == 200
        for where, r in answers.items():
            assert r.status_code == 422, (where, r.text)
            assert r.json()["error"]["code"] == "input_tidak_valid", where
            assert r.headers["x-correlation-id"] and r.headers["x-content-type-options"] == "nosniff"
        assert (await client.get("/v1/things", params={"name": "tanpa nul"})).status_code == 200
