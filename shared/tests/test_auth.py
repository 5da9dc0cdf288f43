"""Sign-in: tokens verified through an OpenID Connect issuer's JWKS (the development issuer,
over real HTTP), the claims every token must carry, key rotation, and the production start
that refuses development sign-in."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from fastapi import APIRouter

from kinerja_shared.auth import (
    DEV_JWT_SECRET,
    CurrentPrincipal,
    InsecureAuthSettings,
    TokenVerifier,
    mint_token,
)
from kinerja_shared.dev_issuer import DevIssuer, KeyFile, dev_token
from kinerja_shared.errors import AppError
from kinerja_shared.runtime import ServiceRuntime
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.testing.http import bearer, running_app
from kinerja_shared.testing.servers import free_port

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    started = DevIssuer(tmp_path_factory.mktemp("issuer") / "keys.json", port=0).start()
    yield started
    started.stop()


def verifier(issuer: DevIssuer, **settings) -> TokenVerifier:
    return TokenVerifier(ServiceSettings(oidc_issuer=issuer.issuer, oidc_audience="kinerja", **settings))


def claims(issuer: DevIssuer, **changes) -> dict:
    now = int(time.time())
    base = {"iss": issuer.issuer, "aud": "kinerja", "sub": "198503122010012001", "role": "guru",
            "nip": "198503122010012001", "npsn": "20212345", "iat": now, "exp": now + 3600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def refused(verify, token: str) -> AppError:
    with pytest.raises(AppError) as caught:
        verify(token)
    return caught.value


# ---------------------------------------------------------------- the production start


def start_service(env: dict[str, str]) -> subprocess.CompletedProcess:
    """kinerja-planning as an operator starts it. Today's code would start (and wait for a NATS
    that is not there): the timeout fails the test instead of hanging it."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KINERJA_")}
    full.update({"KINERJA_ENVIRONMENT": "production", "KINERJA_NATS_URL": "nats://127.0.0.1:1",
                 "KINERJA_DATABASE_URL": "sqlite+aiosqlite:////nonexistent/kinerja.db", **env})
    return subprocess.run([str(BIN / "kinerja-planning"), "serve"], env=full, capture_output=True,
                          text=True, timeout=60)


def test_a_production_start_without_an_issuer_exits_with_the_reason():
    result = start_service({})
    assert result.returncode != 0
    assert "refusing to start in production" in result.stderr
    assert "KINERJA_OIDC_ISSUER is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_production_start_with_the_development_secret_exits_with_the_reason():
    result = start_service({"KINERJA_JWT_SECRET": DEV_JWT_SECRET,
                            "KINERJA_OIDC_ISSUER": "https://sso.example.go.id/realms/kinerja"})
    assert result.returncode != 0
    assert "the published development secret" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("settings, reason", [
    ({"oidc_issuer": None}, "KINERJA_OIDC_ISSUER is not set"),
    ({"oidc_issuer": "https://sso.example.go.id/realms/kinerja", "jwt_secret": "a-long-random-value"},
     "a shared secret"),
    ({"oidc_issuer": "http://sso.example.go.id/realms/kinerja"}, "https only"),
    ({"oidc_issuer": "https://sso.example.go.id/realms/kinerja", "oidc_jwks_url": "http://sso/jwks"}, "https only"),
])
def test_production_refuses_development_sign_in(settings, reason):
    with pytest.raises(InsecureAuthSettings, match=reason):
        ServiceRuntime(ServiceSettings(environment="production", **settings), tables=[])


def test_production_with_an_https_issuer_starts(tmp_path):
    ServiceRuntime(ServiceSettings(environment="production", oidc_issuer="https://sso.example.go.id/realms/kinerja",
                                   nats_password="a-long-random-value",  # production needs its own
                                   database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"), tables=[])


# ---------------------------------------------------------------- verification


def test_a_token_from_the_issuer_names_the_principal(issuer):
    principal = verifier(issuer).verify(issuer.mint(role="kepala_sekolah", nip="197204151998022001",
                                                    npsn="20212345", region="020500"))
    assert principal.model_dump() == {"sub": "197204151998022001", "role": "kepala_sekolah",
                                      "nip": "197204151998022001", "npsn": "20212345", "region": "020500"}


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub"])
def test_a_token_without_a_required_claim_is_refused(issuer, missing):
    error = refused(verifier(issuer).verify, issuer.sign(claims(issuer, **{missing: None})))
    assert (error.status_code, error.code, error.details["claim"]) == (401, "token_klaim_wajib_tidak_ada", missing)


def test_a_token_from_another_issuer_is_refused(issuer):
    error = refused(verifier(issuer).verify, issuer.sign(claims(issuer, iss="https://evil.example/realms/x")))
    assert (error.status_code, error.code) == (401, "token_penerbit_salah")


def test_a_token_for_another_audience_is_refused(issuer):
    error = refused(verifier(issuer).verify, issuer.sign(claims(issuer, aud="account")))
    assert (error.status_code, error.code) == (401, "token_audiens_salah")
    # Keycloak writes a list; ours among them is enough.
    assert verifier(issuer).verify(issuer.sign(claims(issuer, aud=["account", "kinerja"]))).role == "guru"


def test_a_token_living_longer_than_the_maximum_is_refused(issuer):
    long_lived = issuer.mint(role="dinas", region="020500", ttl_s=13 * 3600)
    error = refused(verifier(issuer).verify, long_lived)
    assert (error.status_code, error.code) == (401, "token_masa_berlaku_terlalu_panjang")
    assert error.details == {"lifetime_s": 13 * 3600, "max_lifetime_s": 12 * 3600}
    assert verifier(issuer, token_max_lifetime_s=14 * 3600).verify(long_lived).role == "dinas"


def test_an_expired_token_is_refused(issuer):
    now = int(time.time())
    error = refused(verifier(issuer).verify, issuer.sign(claims(issuer, iat=now - 7200, exp=now - 3600)))
    assert (error.status_code, error.code) == (401, "token_kedaluwarsa")


def test_a_token_issued_in_the_future_is_refused(issuer):
    now = int(time.time())
    error = refused(verifier(issuer).verify, issuer.sign(claims(issuer, iat=now + 600, exp=now + 1200)))
    assert (error.status_code, error.code) == (401, "token_belum_berlaku")


def test_symmetric_and_unsigned_tokens_are_refused_when_an_issuer_is_configured(issuer):
    from cryptography.hazmat.primitives import serialization

    public_pem = issuer.keys.signing_key()[1].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = issuer.keys.signing_key()[0]
    for token in (
        mint_token(DEV_JWT_SECRET, sub="x", role="dinas"),  # the development secret
        jwt.encode(claims(issuer), "k" * 32, algorithm="HS256", headers={"kid": kid}),
        jwt.encode(claims(issuer), None, algorithm="none", headers={"kid": kid}),
        _hs256_with(public_pem, claims(issuer), kid),  # the classic RS256 -> HS256 confusion
        "not.a.token",
    ):
        error = refused(verifier(issuer).verify, token)
        assert (error.status_code, error.code) == (401, "token_tidak_valid")


def _hs256_with(key: bytes, payload: dict, kid: str) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(payload).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def test_a_key_the_issuer_does_not_publish_is_refused(issuer, tmp_path):
    stranger = KeyFile(tmp_path / "stranger.json").ensure()
    kid, key = stranger.signing_key()
    token = jwt.encode(claims(issuer), key, algorithm="RS256", headers={"kid": kid})
    error = refused(verifier(issuer).verify, token)
    assert (error.status_code, error.code) == (401, "token_kunci_tidak_dikenal")
    # The issuer's kid on a stranger's signature: the signature does not verify.
    forged = jwt.encode(claims(issuer), key, algorithm="RS256", headers={"kid": issuer.keys.signing_key()[0]})
    assert refused(verifier(issuer).verify, forged).code == "token_tidak_valid"


def test_the_role_claim_may_be_a_keycloak_list_of_exactly_one_kinerja_role(issuer):
    check = verifier(issuer).verify
    assert check(issuer.sign(claims(issuer, role=["guru"]))).role == "guru"
    for roles in (["guru", "dinas"], ["offline_access"], [], "kepala-sekolah"):
        assert refused(check, issuer.sign(claims(issuer, role=roles))).code == "token_tidak_valid"


def test_keys_rotate_by_kid_and_the_key_set_is_cached(tmp_path):
    issuer = DevIssuer(tmp_path / "keys.json", port=0).start()
    try:
        fetches = []
        check = verifier(issuer, oidc_jwks_refetch_cooldown_s=0)
        original = check._jwks_client().fetch_data

        def counted():
            fetches.append(1)
            return original()

        check._jwks_client().fetch_data = counted
        before = issuer.mint(role="guru", nip="198503122010012001")
        for _ in range(5):
            assert check.verify(before).nip == "198503122010012001"
        assert len(fetches) == 1  # cached

        new_kid = issuer.keys.rotate()
        after = issuer.mint(role="guru", nip="198503122010012001")
        assert jwt.get_unverified_header(after)["kid"] == new_kid
        assert check.verify(after).role == "guru"  # an unknown kid: the key set fetched again
        assert check.verify(before).role == "guru"  # the previous key stays published
        assert len(fetches) == 2

        issuer.keys.rotate()  # `before`'s key is withdrawn; once the cache expires it fails
        check._jwks_client().jwk_set_cache = None
        assert refused(check.verify, before).code == "token_kunci_tidak_dikenal"
    finally:
        issuer.stop()


def test_an_unreachable_issuer_is_a_503_not_a_401(issuer):
    check = TokenVerifier(ServiceSettings(oidc_issuer="http://127.0.0.1:1/realms/kinerja"))
    error = refused(check.verify, issuer.mint(role="guru"))
    assert (error.status_code, error.code) == (503, "penyedia_identitas_tidak_tersedia")
    assert error.headers == {"Retry-After": "5"}


def test_the_development_secret_without_an_issuer_still_asks_for_exp_and_a_bounded_lifetime():
    check = TokenVerifier(ServiceSettings(oidc_issuer="", environment="development"))
    assert check.verify(mint_token(DEV_JWT_SECRET, sub="x", role="dinas", region="020500")).region == "020500"
    no_exp = jwt.encode({"iss": "urn:kinerja:dev-secret", "aud": "kinerja", "sub": "x", "role": "dinas",
                         "iat": int(time.time())}, DEV_JWT_SECRET, algorithm="HS256")
    assert refused(check.verify, no_exp).code == "token_klaim_wajib_tidak_ada"
    from datetime import timedelta
    assert refused(check.verify, mint_token(DEV_JWT_SECRET, sub="x", role="dinas", ttl=timedelta(days=30))).code \
        == "token_masa_berlaku_terlalu_panjang"


# ---------------------------------------------------------------- through a service


async def test_a_service_answers_401_with_the_code_and_takes_the_plugins_tokens(nats_server, tmp_path):
    runtime = ServiceRuntime(ServiceSettings(service_name="planning", database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
                                             nats_url=nats_server.url), tables=[])
    router = APIRouter()

    @router.post("/v1/whoami")
    async def whoami(principal: CurrentPrincipal):
        return principal.model_dump()

    app = runtime.http_app(title="t", description="d", routers=[router])
    async with running_app(app) as client:
        ok = await client.post("/v1/whoami", headers={**bearer("dinas", region="020500"), "Idempotency-Key": "k1"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["region"] == "020500"

        from kinerja_shared.dev_issuer import running

        session_issuer = running()
        no_exp = session_issuer.sign(claims(session_issuer, exp=None))
        r = await client.post("/v1/whoami", headers={"Authorization": f"Bearer {no_exp}", "Idempotency-Key": "k2"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "token_klaim_wajib_tidak_ada"
        r = await client.post("/v1/whoami")
        assert (r.status_code, r.json()["error"]["code"]) == (401, "token_tidak_ada")


async def test_a_service_holds_the_key_set_from_its_start(nats_server, tmp_path):
    """Discovery and the JWKS are fetched while the service starts, not by its first request:
    under load (saturated.py, load ~7) that first request's two fetches made it the slow one
    (an idempotency test missed its claim by 0.25 s). Shown by stopping the issuer once the
    app is up: its first request still verifies (before, it answered 503)."""
    own = DevIssuer(tmp_path / "keys.json", port=0).start()
    runtime = ServiceRuntime(ServiceSettings(service_name="planning", database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
                                             nats_url=nats_server.url, oidc_issuer=own.issuer), tables=[])
    router = APIRouter()

    @router.get("/v1/whoami")
    async def whoami(principal: CurrentPrincipal):
        return principal.model_dump()

    app = runtime.http_app(title="t", description="d", routers=[router])
    token = own.mint(role="guru", nip="198503122010012001")
    try:
        async with running_app(app) as client:
            own.stop()
            r = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            assert r.json()["nip"] == "198503122010012001"
    finally:
        own.stop()


async def test_a_service_starts_while_its_issuer_is_away(nats_server, tmp_path):
    """The prefetch is best effort: an issuer that is down at start delays nothing and fails
    nothing; requests meanwhile answer 503 as before (penyedia_identitas_tidak_tersedia)."""
    runtime = ServiceRuntime(ServiceSettings(service_name="planning", database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
                                             nats_url=nats_server.url,
                                             oidc_issuer=f"http://127.0.0.1:{free_port()}"), tables=[])
    router = APIRouter()

    @router.get("/v1/whoami")
    async def whoami(principal: CurrentPrincipal):
        return principal.model_dump()

    app = runtime.http_app(title="t", description="d", routers=[router])
    async with running_app(app) as client:
        r = await client.get("/v1/whoami", headers=bearer("guru", nip="198503122010012001"))
        assert (r.status_code, r.json()["error"]["code"]) == (503, "penyedia_identitas_tidak_tersedia")
        assert (await client.get("/health/live")).status_code == 200


def test_kinerja_token_asks_the_development_issuer(issuer):
    env = {**os.environ, "KINERJA_OIDC_ISSUER": issuer.issuer}
    token = subprocess.run([str(BIN / "kinerja-token"), "--role", "guru", "--nip", "198503122010012001",
                            "--npsn", "20212345"], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert verifier(issuer).verify(token).npsn == "20212345"
    assert dev_token(role="pengawas", region="020500")  # in-process: the session's issuer


def test_the_development_issuer_publishes_a_key_rotated_by_another_process(tmp_path):
    issuer = DevIssuer(tmp_path / "keys.json", port=0).start()
    try:
        import httpx

        before = {k["kid"] for k in httpx.get(f"{issuer.url}/jwks").json()["keys"]}
        subprocess.run([str(BIN / "kinerja-dev-issuer"), "rotate", "--key-file", str(tmp_path / "keys.json")],
                       check=True, capture_output=True)
        after = {k["kid"] for k in httpx.get(f"{issuer.url}/jwks").json()["keys"]}
        assert before < after and len(after) == 2
        new_kid = (after - before).pop()
        token = httpx.post(f"{issuer.url}/token", json={"role": "guru", "nip": "198503122010012001"}).json()
        assert jwt.get_unverified_header(token["access_token"])["kid"] == new_kid
        assert verifier(issuer).verify(token["access_token"]).nip == "198503122010012001"
        discovery = httpx.get(f"{issuer.url}/.well-known/openid-configuration").json()
        assert (discovery["issuer"], discovery["jwks_uri"]) == (issuer.issuer, f"{issuer.issuer}/jwks")
        assert httpx.post(f"{issuer.url}/token", json={"role": "raja"}).status_code == 400
    finally:
        issuer.stop()


def test_the_development_issuer_refuses_production(tmp_path, monkeypatch):
    monkeypatch.setenv("KINERJA_ENVIRONMENT", "production")
    with pytest.raises(SystemExit, match="does not run with KINERJA_ENVIRONMENT=production"):
        DevIssuer(tmp_path / "keys.json", port=0)


@pytest.mark.parametrize("through", ["discovery", "jwks"])
def test_an_issuer_that_does_not_answer_is_waited_for_once_then_503_at_once(issuer, monkeypatch, through):
    """A blackholed issuer: the first request waits out the fetch timeout, the next ones within
    FAILED_FETCH_HOLD_S answer 503 at once instead of each holding a worker for the timeout."""
    import socket

    from kinerja_shared import auth

    monkeypatch.setattr(auth, "FETCH_TIMEOUT_S", 1.0)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the backlog) and never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        settings = {"oidc_issuer": url} if through == "discovery" else {
            "oidc_issuer": issuer.issuer, "oidc_jwks_url": f"{url}/jwks"}
        check = TokenVerifier(ServiceSettings(**settings))
        token = issuer.mint(role="guru")
        started = time.monotonic()
        assert refused(check.verify, token).code == "penyedia_identitas_tidak_tersedia"
        assert time.monotonic() - started >= 0.9
        started = time.monotonic()
        for _ in range(3):
            assert refused(check.verify, token).status_code == 503
        assert time.monotonic() - started < 0.5
    finally:
        silent.close()
