"""Errors that reach users: a stable machine code, a message in Bahasa Indonesia, English beside.

Services raise :class:`AppError` (or a subclass) from the domain or service layer; the HTTP
layer turns it into JSON ``{"error": {"code", "message", "message_en", "details"}}`` with the
status it carries. Never a stack trace.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code: int = 400

    def __init__(
        self,
        code: str,
        message: str,
        message_en: str = "",
        *,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message_en or message}")
        self.code = code
        self.message = message
        self.message_en = message_en
        self.details = details
        self.headers = headers
        if status_code is not None:
            self.status_code = status_code

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "message_en": self.message_en,
        }
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class NotFound(AppError):
    status_code = 404


class Forbidden(AppError):
    status_code = 403


class Conflict(AppError):
    status_code = 409


class Unauthorized(AppError):
    status_code = 401


# dependency -> (code, message); any other name gets "<name>_tidak_tersedia" and a generic message.
_UNAVAILABLE = {
    "database": ("basis_data_tidak_tersedia",
                 "Basis data sedang tidak dapat dijangkau; coba lagi dalam beberapa saat.",
                 "The database is unreachable; retry shortly."),
    "object_storage": ("penyimpanan_berkas_tidak_tersedia",
                       "Penyimpanan berkas sedang tidak dapat dijangkau; coba lagi dalam beberapa saat.",
                       "Object storage is unreachable; retry shortly."),
    "identity_provider": ("penyedia_identitas_tidak_tersedia",
                          "Penyedia identitas (penerbit token) sedang tidak dapat dijangkau; coba lagi dalam beberapa saat.",
                          "The identity provider (token issuer) is unreachable; retry shortly."),
    "ekinerja": ("ekinerja_tidak_tersedia",
                 "Layanan e-Kinerja sedang tidak dapat dijangkau; coba lagi dalam beberapa saat.",
                 "e-Kinerja is unreachable; retry shortly."),
}


class DependencyUnavailable(AppError):
    """Something the service needs to answer is away for now: 503 with ``Retry-After``, so
    clients (and an Idempotency-Key retry) come back instead of treating it as a failure.

        raise DependencyUnavailable("object_storage", retry_after_s=10) from exc
    """

    status_code = 503

    def __init__(self, dependency: str, retry_after_s: int = 5, *, code: str | None = None,
                 message: str | None = None, message_en: str | None = None) -> None:
        known_code, known_message, known_en = _UNAVAILABLE.get(dependency, (
            f"{dependency}_tidak_tersedia",
            f"Layanan pendukung ({dependency}) sedang tidak dapat dijangkau; coba lagi dalam beberapa saat.",
            f"{dependency} is unreachable; retry shortly.",
        ))
        super().__init__(code or known_code, message or known_message, message_en or known_en,
                         details={"dependency": dependency, "retry_after_s": retry_after_s},
                         headers={"Retry-After": str(retry_after_s)})
        self.dependency = dependency
        self.retry_after_s = retry_after_s
