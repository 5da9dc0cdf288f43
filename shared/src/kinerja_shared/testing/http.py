"""Drive a service's FastAPI app in-process, lifespan included (runtime started and stopped).

    async with running_app(app) as client:
        response = await client.post("/v1/...", headers=bearer(token))
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from kinerja_shared.auth import Role, mint_token
from kinerja_shared.dev_issuer import dev_token


@asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


def bearer(
    role: Role,
    *,
    nip: str | None = None,
    npsn: str | None = None,
    region: str | None = None,
    secret: str | None = None,
) -> dict[str, str]:
    """An Authorization header the services under test accept: a token from the development
    issuer the pytest plugin runs (verified through its JWKS, as in production); with
    ``secret``, an HS256 token for development-without-issuer tests."""
    if secret is not None:
        token = mint_token(secret, sub=nip or role, role=role, nip=nip, npsn=npsn, region=region)
    else:
        token = dev_token(sub=nip or role, role=role, nip=nip, npsn=npsn, region=region)
    return {"Authorization": f"Bearer {token}"}
