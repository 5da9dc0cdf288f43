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
    ) -> None:
        super().__init__(f"{code}: {message_en or message}")
        self.code = code
        self.message = message
        self.message_en = message_en
        self.details = details
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
