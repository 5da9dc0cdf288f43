"""Token claims are bounded like the columns they are written to (issue 11): a `sub` over 128
characters or a `nip` over 18 made writes such as a roster import's `imported_by` a 500 on
PostgreSQL; such a token is now 401 token_tidak_valid naming the claim."""

from __future__ import annotations

from fastapi import APIRouter

from kinerja_shared.auth import CurrentPrincipal
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.http import bearer, running_app


async def test_overlong_claims_are_refused_as_an_invalid_token(nats_server, tmp_path):
    runtime = ServiceRuntime(ServiceSettings(service_name="planning", nats_url=nats_server.url,
                                             database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"), tables=[])
    router = APIRouter()

    @router.get("/v1/me")
    async def me(principal: CurrentPrincipal) -> dict:
        return principal.model_dump()

    async with running_app(runtime.http_app(title="t", description="d", routers=[router])) as client:
        ok = await client.get("/v1/me", headers=bearer("guru", nip="198503122010012001", npsn="20212345"))
        assert ok.status_code == 200, ok.text
        for headers, claim in ((bearer("guru", nip="1" * 19), "nip"), (bearer("dinas", region="1" * 7), "region"),
                               (bearer("guru", nip="198503122010012001", npsn="2" * 9), "npsn")):
            r = await client.get("/v1/me", headers=headers)
            assert r.status_code == 401, r.text
            assert r.json()["error"]["code"] == "token_tidak_valid" and claim in r.json()["error"]["details"]["claims"]
