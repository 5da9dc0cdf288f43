"""A development OpenID Connect issuer: the services verify its tokens exactly as they verify
a real identity provider's (discovery, JWKS, RS256, ``kid``), so that path runs every day.

    kinerja-dev-issuer serve --port 8110 --key-file data/dev-issuer/keys.json
    kinerja-dev-issuer rotate --key-file data/dev-issuer/keys.json

It keeps its RSA key pairs in one JSON file (created, mode 0600, on first start), serves
``/.well-known/openid-configuration``, ``/jwks`` (every key in the file) and ``POST /token``:
a token for the claims asked (sub, role, nip, npsn, region, ttl_s). Anyone who reaches it can
be anyone: it binds to 127.0.0.1 and refuses to run with KINERJA_ENVIRONMENT=production.
``rotate`` adds a new signing key and keeps the previous one published, so tokens signed
before the rotation verify until they expire; services fetch the new key on its first ``kid``.

The embedded stack and the pytest plugin run one in a thread (:meth:`DevIssuer.start`);
:func:`dev_token` mints through the issuer running in this process, else asks the one at
KINERJA_OIDC_ISSUER over HTTP (what ``kinerja-token`` does).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import jwt
import typer
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DEFAULT_PORT = 8110
DEFAULT_ISSUER = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_AUDIENCE = "kinerja"
DEFAULT_TTL_S = 12 * 3600
ROLES = ("guru", "kepala_sekolah", "pengawas", "dinas", "operator_sekolah", "operator_dinas", "sistem")
# Keys published after a rotation: the new one and the one before it.
KEEP_KEYS = 2


class KeyFile:
    """The issuer's key pairs, newest last (the one that signs). Read again when the file
    changes, so a ``rotate`` from another process is picked up without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: list[tuple[str, Any]] = []

    def ensure(self) -> KeyFile:
        with self._lock:
            if not self.path.exists():
                self._write([_new_key()])
        return self

    def rotate(self) -> str:
        """A new signing key; the previous one stays published. Returns the new kid."""
        with self._lock:
            entries = json.loads(self.path.read_text())["keys"] if self.path.exists() else []
            entries = [*entries, _new_key()][-KEEP_KEYS:]
            self._write(entries)
            return entries[-1]["kid"]

    def _write(self, entries: list[dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"keys": entries}, f, indent=1)
        os.replace(tmp, self.path)

    def keys(self) -> list[tuple[str, Any]]:
        with self._lock:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                entries = json.loads(self.path.read_text())["keys"]
                self._keys = [(e["kid"], serialization.load_pem_private_key(e["pem"].encode(), None))
                              for e in entries]
                self._stamp = stamp
            return list(self._keys)

    def signing_key(self) -> tuple[str, Any]:
        return self.keys()[-1]

    def jwks(self) -> dict[str, Any]:
        published = []
        for kid, private in self.keys():
            jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
            published.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": published}


def _new_key() -> dict[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return {"kid": f"dev-{datetime.now(timezone.utc):%Y%m%d}-{uuid.uuid4().hex[:8]}", "pem": pem}


class DevIssuer:
    def __init__(self, key_file: Path, *, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
                 audience: str = DEFAULT_AUDIENCE) -> None:
        if os.environ.get("KINERJA_ENVIRONMENT") == "production":
            raise SystemExit("kinerja-dev-issuer: the development issuer mints any token for "
                             "anyone and does not run with KINERJA_ENVIRONMENT=production.")
        self.keys = KeyFile(key_file).ensure()
        self.host, self.port = host, port or _free_port()
        self.audience = audience
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    issuer = url

    # ------------------------------------------------------------ tokens
    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        """Exactly these claims, signed with the current key (or the key ``kid``): tests use it
        for tokens the token endpoint would not make (no exp, another iss, ...)."""
        keys = dict(self.keys.keys())
        kid = kid or self.keys.signing_key()[0]
        return jwt.encode(claims, keys[kid], algorithm="RS256", headers={"kid": kid})

    def mint(self, *, role: str, sub: str | None = None, nip: str | None = None,
             npsn: str | None = None, region: str | None = None, ttl_s: float = DEFAULT_TTL_S) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": self.audience, "sub": sub or nip or role,
                                  "role": role, "iat": now, "exp": now + int(ttl_s)}
        for name, value in (("nip", nip), ("npsn", npsn), ("region", region)):
            if value:
                claims[name] = value
        return self.sign(claims)

    # ------------------------------------------------------------ HTTP
    def app(self) -> Starlette:
        async def configuration(_request: Request) -> JSONResponse:
            return JSONResponse({
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/jwks",
                "token_endpoint": f"{self.issuer}/token",
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "grant_types_supported": ["urn:kinerja:development"],
                "claims_supported": ["sub", "role", "nip", "npsn", "region", "iss", "aud", "exp", "iat"],
            })

        async def jwks(_request: Request) -> JSONResponse:
            return JSONResponse(self.keys.jwks(), headers={"Cache-Control": "max-age=60"})

        async def token(request: Request) -> JSONResponse:
            try:
                body = await request.json()
                fields = {k: body.get(k) for k in ("role", "sub", "nip", "npsn", "region")}
                ttl_s = float(body.get("ttl_s") or DEFAULT_TTL_S)
                access = self.mint(**{k: v for k, v in fields.items() if v is not None}, ttl_s=ttl_s)
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, 400)
            return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": int(ttl_s)})

        return Starlette(routes=[
            Route("/.well-known/openid-configuration", configuration),
            Route("/jwks", jwks),
            Route("/token", token, methods=["POST"]),
        ])

    def serve(self) -> None:
        """In the foreground (the CLI)."""
        uvicorn.run(self.app(), host=self.host, port=self.port, log_level="warning")

    def start(self, *, activate: bool = False) -> DevIssuer:
        """In a thread of this process, until :meth:`stop`. ``activate``: the issuer
        :func:`dev_token` mints through (the stack's, the test session's)."""
        config = uvicorn.Config(self.app(), host=self.host, port=self.port, log_level="warning",
                                access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="dev-issuer", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the development issuer did not start on {self.url}")
            time.sleep(0.01)
        if activate:
            _running.append(self)
        return self

    def stop(self) -> None:
        if self in _running:
            _running.remove(self)
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(10)
            self._server = None


_running: list[DevIssuer] = []
_cache: dict[tuple, tuple[str, float]] = {}
_cache_lock = threading.Lock()


def running() -> DevIssuer | None:
    """The issuer activated last in this process (the stack's, or the test session's)."""
    return _running[-1] if _running else None


def dev_token(*, role: str, sub: str | None = None, nip: str | None = None, npsn: str | None = None,
              region: str | None = None, ttl_s: float = DEFAULT_TTL_S) -> str:
    """A development token the services of this machine accept: from the issuer running in
    this process, else from the token endpoint of KINERJA_OIDC_ISSUER (default: the embedded
    stack's), else (KINERJA_OIDC_ISSUER set empty) signed with the development secret."""
    issuer = running()
    if issuer is not None:
        # An RS256 signature costs ~1 ms: the chaos and load drivers ask for one per request,
        # so the same claims get the same token for a few minutes (of its hours of life).
        key = (issuer.url, role, sub, nip, npsn, region, ttl_s)
        now = time.monotonic()
        with _cache_lock:
            cached = _cache.get(key)
            if cached is not None and now - cached[1] < min(300.0, ttl_s / 4):
                return cached[0]
        token = issuer.mint(role=role, sub=sub, nip=nip, npsn=npsn, region=region, ttl_s=ttl_s)
        with _cache_lock:
            if len(_cache) > 50_000:
                _cache.clear()
            _cache[key] = (token, now)
        return token
    from kinerja_shared.settings import ServiceSettings

    url = os.environ.get("KINERJA_OIDC_ISSUER", DEFAULT_ISSUER)
    if not url:
        from datetime import timedelta

        from kinerja_shared.auth import DEV_JWT_SECRET, mint_token

        settings = ServiceSettings()
        return mint_token(settings.jwt_secret or DEV_JWT_SECRET, sub=sub or nip or role, role=role,  # type: ignore[arg-type]
                          nip=nip, npsn=npsn, region=region, ttl=timedelta(seconds=ttl_s),
                          audience=settings.oidc_audience)
    claims = {"role": role, "sub": sub, "nip": nip, "npsn": npsn, "region": region, "ttl_s": ttl_s}
    response = httpx.post(f"{url.rstrip('/')}/token", json={k: v for k, v in claims.items() if v is not None},
                          timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


cli = typer.Typer(help="The development OpenID Connect issuer (never in production).", add_completion=False)
KEY_FILE = typer.Option(Path("data/dev-issuer/keys.json"), help="its key pairs (created on first start)")


@cli.command("serve")
def serve_command(port: int = typer.Option(DEFAULT_PORT), key_file: Path = KEY_FILE,
                  audience: str = typer.Option(DEFAULT_AUDIENCE)) -> None:
    """Serve discovery, the JWKS and the development token endpoint on 127.0.0.1."""
    issuer = DevIssuer(key_file, port=port, audience=audience)
    typer.echo(f"development issuer {issuer.url} (keys in {key_file})", err=True)
    issuer.serve()


@cli.command("rotate")
def rotate_command(key_file: Path = KEY_FILE) -> None:
    """Add a new signing key; the previous one stays published until the next rotation."""
    typer.echo(KeyFile(key_file).rotate())


def main() -> None:
    cli()
