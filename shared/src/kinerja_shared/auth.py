"""Bearer tokens: who is calling, from an access token an OpenID Connect issuer signed.

Claims: ``sub`` (who), ``role`` (guru, kepala_sekolah, pengawas, dinas, operator_sekolah,
operator_dinas, sistem; a string, or a list holding exactly one of them as a Keycloak client
role mapper writes it), ``nip`` (the person's NIP, when they have one), ``npsn`` (the school
they belong to), ``region`` (the district a dinas user or pengawas covers), and the registered
claims every token must carry: ``iss`` (= KINERJA_OIDC_ISSUER), ``aud`` (contains
KINERJA_OIDC_AUDIENCE), ``exp``, ``iat`` (exp - iat at most KINERJA_TOKEN_MAX_LIFETIME_S).
What each role may do belongs to the access policy and the use cases; this module only says
who is calling.

Verification goes through the issuer's JWKS with PyJWT's ``PyJWKClient``: asymmetric keys
(RS256, ES256) picked by the token's ``kid``, the key set cached for KINERJA_OIDC_JWKS_CACHE_S
and fetched again when a token names a ``kid`` it does not hold (a rotated key). The JWKS URL
comes from the issuer's ``/.well-known/openid-configuration`` unless KINERJA_OIDC_JWKS_URL
names it. Without an issuer, in development only, HS256 with a shared secret is accepted;
a production start without an issuer, or with a shared secret, stops
(:func:`check_auth_settings`).

Development tokens come from the development issuer (``kinerja_shared.dev_issuer``);
``kinerja-token`` asks it for one.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

import httpx
import jwt
import typer
from fastapi import Depends, Request
from pydantic import BaseModel, Field, ValidationError

from kinerja_shared.errors import DependencyUnavailable, Unauthorized
from kinerja_shared.settings import ServiceSettings

Role = Literal[
    "guru", "kepala_sekolah", "pengawas", "dinas", "operator_sekolah", "operator_dinas", "sistem"
]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
# Asymmetric only from an issuer: a token can never pick HS256 and be checked with a public key.
ISSUER_ALGORITHMS = ["RS256", "ES256"]
ALGORITHM = "HS256"  # the development shared secret
# Published in this repository, so worth nothing: refused in production, used only when
# development runs without an issuer and without KINERJA_JWT_SECRET.
DEV_JWT_SECRET = "kinerja-dev-secret-change-me-please-0123456789"
DEV_SECRET_ISSUER = "urn:kinerja:dev-secret"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
# Discovery and JWKS fetches: rare (once per cache period), so a slow issuer is waited for...
FETCH_TIMEOUT_S = 10.0
# ...once: after a failed fetch the next ones fail at once (503) for this long, so while the
# issuer is away requests do not each hold a worker thread for the whole timeout.
FAILED_FETCH_HOLD_S = 5.0


class Principal(BaseModel):
    # Bounded like the columns they are written to (imported_by, set_by, ...): a longer claim
    # is a token_tidak_valid, never a 500 on PostgreSQL (kinerja_shared.limits).
    sub: str = Field(max_length=128)
    role: Role
    nip: str | None = Field(default=None, max_length=18)
    npsn: str | None = Field(default=None, max_length=8)
    region: str | None = Field(default=None, max_length=6)


# ---------------------------------------------------------------- settings checked at start


class InsecureAuthSettings(SystemExit):
    """A production start with development sign-in. A SystemExit: the process ends with the
    message on stderr and status 1, no traceback."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"kinerja: refusing to start in production: {reason}")
        self.reason = reason


def check_auth_settings(settings: ServiceSettings) -> None:
    """Stop a production start that would accept tokens anyone can mint."""
    if getattr(settings, "environment", "development") != "production":
        return
    if settings.jwt_secret is not None:
        what = ("the published development secret" if settings.jwt_secret == DEV_JWT_SECRET
                else "a shared secret")
        raise InsecureAuthSettings(
            f"KINERJA_JWT_SECRET is set ({what}). A shared secret is for development only; in "
            "production tokens are verified through the identity provider's JWKS. Unset "
            "KINERJA_JWT_SECRET and set KINERJA_OIDC_ISSUER (docs/operations.md, "
            "'Connecting an identity provider')."
        )
    if not settings.oidc_issuer:
        raise InsecureAuthSettings(
            "KINERJA_OIDC_ISSUER is not set. Production verifies access tokens from an OpenID "
            "Connect issuer (e.g. https://sso.example.go.id/realms/kinerja) and KINERJA_OIDC_AUDIENCE "
            "(docs/operations.md, 'Connecting an identity provider')."
        )
    for name, url in (("KINERJA_OIDC_ISSUER", settings.oidc_issuer),
                      ("KINERJA_OIDC_JWKS_URL", settings.oidc_jwks_url)):
        if url and not url.startswith("https://"):
            raise InsecureAuthSettings(
                f"{name} is {url!r}: in production the issuer and its keys are fetched over "
                "https only (a key set fetched over plain http can be replaced on the way)."
            )


# ---------------------------------------------------------------- verification


def _invalid(message_en: str = "Invalid token.", *, details: Any = None) -> Unauthorized:
    return Unauthorized("token_tidak_valid", "Token tidak valid.", message_en, details=details)


class _JWKSClient(jwt.PyJWKClient):
    """PyJWKClient with a short hold after a failed fetch (FAILED_FETCH_HOLD_S)."""

    failed_until = 0.0

    def fetch_data(self) -> Any:
        if time.monotonic() < self.failed_until:
            raise jwt.PyJWKClientConnectionError("the issuer's JWKS could not be fetched moments ago")
        try:
            return super().fetch_data()
        except jwt.PyJWKClientConnectionError:
            self.failed_until = time.monotonic() + FAILED_FETCH_HOLD_S
            raise


class TokenVerifier:
    """Checks a bearer token and says who is calling. Thread-safe; the key fetches are
    blocking (urllib in PyJWKClient), so async code calls it in a worker thread."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.issuer = settings.oidc_issuer or None  # compared exactly, as OIDC asks
        self.audience = settings.oidc_audience
        self.max_lifetime_s = settings.token_max_lifetime_s
        self.leeway_s = settings.token_leeway_s
        self._jwks_url = settings.oidc_jwks_url
        self._cache_s = settings.oidc_jwks_cache_s
        self._cooldown_s = settings.oidc_jwks_refetch_cooldown_s
        self._secret = settings.jwt_secret or DEV_JWT_SECRET
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()
        self._discovery_failed_until = 0.0

    # The configured issuer string exactly as the tokens carry it (no trailing-slash games).
    @property
    def expected_issuer(self) -> str:
        return self.issuer or DEV_SECRET_ISSUER

    def _jwks_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                url = self._jwks_url or self._discover_jwks_url()
                # PyJWKClient (PyJWT): the key set cached for `lifespan`, refetched once on an
                # unknown kid (no more often than the cooldown). No per-kid cache: a key the
                # issuer withdraws stops verifying when the cached set expires.
                self._jwks = _JWKSClient(
                    url, cache_jwk_set=True, lifespan=self._cache_s, cache_keys=False,
                    timeout=FETCH_TIMEOUT_S, cooldown_duration=self._cooldown_s,
                )
            return self._jwks

    def prefetch(self) -> None:
        """Discovery and the key set, fetched now: a service calls it while it starts, so its
        first requests do not each wait for two fetches (under load they were the slow ones).
        Blocking, like :meth:`verify`. Raises DependencyUnavailable when the issuer cannot be
        reached; the caller logs it and requests fetch again as before."""
        if self.issuer is None:
            return
        try:
            self._jwks_client().get_jwk_set()
        except jwt.PyJWKClientError as exc:
            raise _issuer_unavailable() from exc

    def _discover_jwks_url(self) -> str:
        if time.monotonic() < self._discovery_failed_until:
            raise _issuer_unavailable()
        url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            response = httpx.get(url, timeout=FETCH_TIMEOUT_S)
            response.raise_for_status()
            document = response.json()
            # OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one asked.
            if document.get("issuer") != self.issuer or not document.get("jwks_uri"):
                raise ValueError(f"discovery document of {document.get('issuer')!r}")
            return document["jwks_uri"]
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            self._discovery_failed_until = time.monotonic() + FAILED_FETCH_HOLD_S
            raise _issuer_unavailable() from exc

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _invalid() from exc
        algorithm = header.get("alg")
        if self.issuer is None:
            if algorithm != ALGORITHM:
                raise _invalid("Invalid token: development sign-in takes HS256 tokens only.")
            key: Any = self._secret
            algorithms = [ALGORITHM]
        else:
            if algorithm not in ISSUER_ALGORITHMS:
                raise _invalid(f"Invalid token: algorithm must be one of {ISSUER_ALGORITHMS}.")
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise _invalid("Invalid token: no key id (kid) in its header.")
            try:
                key = self._jwks_client().get_signing_key(kid).key
            except jwt.PyJWKClientConnectionError as exc:
                raise _issuer_unavailable() from exc
            except jwt.PyJWKClientError as exc:
                raise Unauthorized(
                    "token_kunci_tidak_dikenal",
                    "Token ditandatangani dengan kunci yang tidak dikenal penerbit.",
                    "The token is signed with a key the issuer does not publish.",
                ) from exc
            algorithms = ISSUER_ALGORITHMS
        claims = self._decode(token, key, algorithms)
        lifetime = claims["exp"] - claims["iat"]
        if lifetime > self.max_lifetime_s:
            raise Unauthorized(
                "token_masa_berlaku_terlalu_panjang",
                f"Masa berlaku token ({lifetime:.0f} detik) melebihi batas {self.max_lifetime_s:.0f} detik.",
                f"The token's lifetime ({lifetime:.0f} s) exceeds the maximum of {self.max_lifetime_s:.0f} s.",
                details={"lifetime_s": lifetime, "max_lifetime_s": self.max_lifetime_s},
            )
        return _principal_from(claims)

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        try:
            return jwt.decode(
                token, key, algorithms=algorithms, audience=self.audience,
                issuer=self.expected_issuer, leeway=self.leeway_s,
                options={"require": REQUIRED_CLAIMS, "strict_aud": False},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(
                "token_klaim_wajib_tidak_ada",
                f"Token tidak memuat klaim wajib '{exc.claim}'.",
                f"The token lacks the required claim '{exc.claim}'.",
                details={"claim": exc.claim, "required": REQUIRED_CLAIMS},
            ) from exc
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(
                "token_kedaluwarsa", "Token sudah kedaluwarsa, silakan masuk lagi.", "Token expired."
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized(
                "token_penerbit_salah",
                "Token tidak diterbitkan oleh penerbit yang dikonfigurasi.",
                "The token was not issued by the configured issuer.",
                details={"expected_iss": self.expected_issuer},
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized(
                "token_audiens_salah",
                "Token tidak ditujukan untuk Kinerja (klaim aud).",
                "The token is not meant for Kinerja (aud claim).",
                details={"expected_aud": self.audience},
            ) from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthorized(
                "token_belum_berlaku", "Token belum berlaku.", "The token is not valid yet."
            ) from exc
        except jwt.PyJWTError as exc:
            raise _invalid() from exc


def _principal_from(claims: dict[str, Any]) -> Principal:
    role = claims.get("role")
    if isinstance(role, list):  # a role mapper's list: exactly one Kinerja role
        ours = [r for r in role if r in ROLES]
        if len(ours) != 1:
            raise _invalid("Invalid token: the role claim must hold exactly one Kinerja role.",
                           details={"role": ours})
        role = ours[0]
    try:
        return Principal.model_validate({**claims, "role": role})
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise _invalid("Invalid token: claims " + ", ".join(fields) + " are not valid.",
                       details={"claims": fields}) from exc


def _issuer_unavailable() -> DependencyUnavailable:
    return DependencyUnavailable("identity_provider", retry_after_s=5)


def verifier_for(app) -> TokenVerifier:
    """The app's verifier (made once per app from its settings)."""
    verifier = getattr(app.state, "token_verifier", None)
    if verifier is None:
        verifier = app.state.token_verifier = TokenVerifier(app.state.settings)
    return verifier


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# A plain def: FastAPI runs it in a worker thread, so a key fetch never blocks the event loop.
def current_principal(request: Request) -> Principal:
    token = bearer_token(request.headers.get("Authorization", ""))
    if not token:
        raise Unauthorized(
            "token_tidak_ada",
            "Permintaan ini memerlukan token Bearer.",
            "A bearer token is required.",
        )
    return verifier_for(request.app).verify(token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


# ---------------------------------------------------------------- development tokens


def mint_token(
    secret: str,
    *,
    sub: str,
    role: Role,
    nip: str | None = None,
    npsn: str | None = None,
    region: str | None = None,
    ttl: timedelta = timedelta(hours=12),
    audience: str = "kinerja",
) -> str:
    """An HS256 token for development without an issuer (and for tests of that mode)."""
    now = datetime.now(timezone.utc)
    claims: dict[str, Any] = {"iss": DEV_SECRET_ISSUER, "aud": audience, "sub": sub, "role": role,
                              "iat": now, "exp": now + ttl}
    for key, value in (("nip", nip), ("npsn", npsn), ("region", region)):
        if value:
            claims[key] = value
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def token_cli(
    role: str = typer.Option(..., help="guru, kepala_sekolah, pengawas, dinas, operator_sekolah, operator_dinas, sistem"),
    sub: str | None = typer.Option(None, help="subject; defaults to the NIP or the role"),
    nip: str | None = typer.Option(None),
    npsn: str | None = typer.Option(None),
    region: str | None = typer.Option(None),
    hours: float = typer.Option(12, help="lifetime; services refuse more than KINERJA_TOKEN_MAX_LIFETIME_S"),
) -> None:
    """Print a development token from the development issuer (KINERJA_OIDC_ISSUER, default the
    embedded stack's http://127.0.0.1:8110), or signed with the development secret when
    KINERJA_OIDC_ISSUER is set to an empty value."""
    from kinerja_shared.dev_issuer import dev_token

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    try:
        print(dev_token(role=role, sub=sub, nip=nip, npsn=npsn, region=region,  # type: ignore[arg-type]
                        ttl_s=hours * 3600))
    except httpx.HTTPError as exc:
        typer.echo(f"kinerja-token: the development issuer did not answer ({exc}); is `make run` "
                   "up, or KINERJA_OIDC_ISSUER pointing at a development issuer?", err=True)
        raise typer.Exit(1) from None


def token_main() -> None:
    typer.run(token_cli)
