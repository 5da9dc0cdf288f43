"""Bearer tokens: a JWT (HS256) with role and scope claims.

Claims: ``sub`` (who), ``role`` (guru, kepala_sekolah, pengawas, dinas, operator_sekolah,
operator_dinas, sistem), ``nip`` (the person's NIP, when they have one), ``npsn`` (the school
they belong to), ``region`` (the district a dinas user or pengawas covers), ``exp``.
A guru sees and changes only their own records; a kepala sekolah only their own school's.
Those checks belong to each service's use cases; this module only says who is calling.

``kinerja-token`` mints development tokens.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

import jwt
import typer
from fastapi import Depends, Request
from pydantic import BaseModel

from kinerja_shared.errors import Forbidden, Unauthorized

Role = Literal[
    "guru", "kepala_sekolah", "pengawas", "dinas", "operator_sekolah", "operator_dinas", "sistem"
]
ALGORITHM = "HS256"


class Principal(BaseModel):
    sub: str
    role: Role
    nip: str | None = None
    npsn: str | None = None
    region: str | None = None

    @property
    def is_dinas(self) -> bool:
        return self.role in ("dinas", "operator_dinas", "sistem")

    def require_role(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(
                "peran_tidak_diizinkan",
                f"Peran '{self.role}' tidak boleh melakukan tindakan ini.",
                f"Role '{self.role}' may not do this.",
            )


def mint_token(
    secret: str,
    *,
    sub: str,
    role: Role,
    nip: str | None = None,
    npsn: str | None = None,
    region: str | None = None,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    claims = {
        "sub": sub,
        "role": role,
        "exp": datetime.now(timezone.utc) + ttl,
        "iat": datetime.now(timezone.utc),
    }
    for key, value in (("nip", nip), ("npsn", npsn), ("region", region)):
        if value:
            claims[key] = value
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM])
        return Principal.model_validate(claims)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized(
            "token_kedaluwarsa", "Token sudah kedaluwarsa, silakan masuk lagi.", "Token expired."
        ) from exc
    except Exception as exc:
        raise Unauthorized("token_tidak_valid", "Token tidak valid.", "Invalid token.") from exc


def current_principal(request: Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "token_tidak_ada",
            "Permintaan ini memerlukan token Bearer.",
            "A bearer token is required.",
        )
    return decode_token(request.app.state.settings.jwt_secret, token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def token_cli(
    role: str = typer.Option(..., help="guru, kepala_sekolah, pengawas, dinas, operator_sekolah, operator_dinas, sistem"),
    sub: str | None = typer.Option(None, help="subject; defaults to the NIP or the role"),
    nip: str | None = typer.Option(None),
    npsn: str | None = typer.Option(None),
    region: str | None = typer.Option(None),
    hours: int = typer.Option(12),
) -> None:
    """Print a development token signed with KINERJA_JWT_SECRET."""
    from kinerja_shared.settings import ServiceSettings

    print(
        mint_token(
            ServiceSettings().jwt_secret,
            sub=sub or nip or role,
            role=role,  # type: ignore[arg-type]
            nip=nip,
            npsn=npsn,
            region=region,
            ttl=timedelta(hours=hours),
        )
    )


def token_main() -> None:
    typer.run(token_cli)
