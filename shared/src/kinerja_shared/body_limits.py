"""Request bodies bounded at the edge: size (413) and JSON nesting (422).

Size: uvicorn and FastAPI read a body whole, whatever its size, before a route sees it. Every
service's app limits request bodies to ``KINERJA_HTTP_MAX_BODY_BYTES`` (1 MiB by default, far
above any JSON command of ours) with Starlette's RequestBodyLimitMiddleware (the limit FastAPI's
``max_body_size`` sets), answering in our JSON form: a ``Content-Length`` over it, or a chunked
body passing it, is 413 ``badan_permintaan_terlalu_besar``. :class:`BodyLimitMiddleware` is
that middleware with our answer instead of Starlette's plain text, placed inside the
correlation id's middleware. A route that reads its body itself within a limit of its own
setting (file uploads, the roster import) lifts the app's limit with FastAPI's route option
``max_body_size=OWN_BODY_LIMIT`` (the route's limit replaces the app's, Starlette's design) and
enforces its own.

Nesting: Python's ``json`` recurses (RecursionError at about 1,000 levels); before, a deep
roster document was a 500. :class:`JsonDepthMiddleware` reads a JSON body (``application/json``
or ``+json``) of at most the app's limit before the route does and refuses more than
:data:`JSON_DEPTH_MAX` levels of objects and arrays with 422 ``json_terlalu_bersarang``; a
larger body (only a route that lifted the limit takes one) streams through unchecked, and such
a route checks it itself with :func:`check_json_depth` (the roster import does).
"""

from __future__ import annotations

import json
import re

from starlette.middleware.body_limit import (
    MAX_BODY_SIZE_SCOPE_KEY,
    RequestBodyLimitMiddleware,
    RequestBodyLimitResponder,
    _BODY_LIMIT_RESPONDER_SCOPE_KEY,
    _Missing,
    _RequestBodyLimitResponseSent,
    _RequestBodyTooLarge,
    _get_content_length,
)

from kinerja_shared.errors import AppError
from kinerja_shared.limits import JSON_DEPTH_MAX

# max_body_size of a route that limits its own body (the framework's limit lifted).
OWN_BODY_LIMIT = 2**53
TOO_LARGE_CODE = "badan_permintaan_terlalu_besar"
TOO_DEEP_CODE = "json_terlalu_bersarang"

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(rb"[\[\]{}]")


class JsonTooDeep(AppError):
    status_code = 422

    def __init__(self, max_depth: int = JSON_DEPTH_MAX) -> None:
        super().__init__(
            TOO_DEEP_CODE,
            f"Data JSON bersarang terlalu dalam (lebih dari {max_depth} tingkat objek/daftar).",
            f"The JSON body is nested more than {max_depth} levels deep.",
            details={"max_depth": max_depth},
        )


def json_depth_exceeds(data: bytes, max_depth: int = JSON_DEPTH_MAX) -> bool:
    """True when objects and arrays in ``data`` nest deeper than ``max_depth``. Strings are
    skipped (a bracket inside one does not count); the scan stops at the first level too deep,
    so it costs one pass of C regex over the body, never a recursion."""
    depth = 0
    for match in _BRACKETS.finditer(_STRING.sub(b"", data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def check_json_depth(data: bytes, max_depth: int = JSON_DEPTH_MAX) -> None:
    if json_depth_exceeds(data, max_depth):
        raise JsonTooDeep(max_depth)


def too_large_error(max_bytes) -> AppError:
    return AppError(
        TOO_LARGE_CODE,
        f"Badan permintaan lebih dari {max_bytes} byte.",
        f"The request body is larger than {max_bytes} bytes.",
        status_code=413, details={"max_bytes": max_bytes},
    )


async def _answer_too_large(send, max_bytes) -> None:
    error = too_large_error(max_bytes)
    body = json.dumps(error.to_dict()).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _Responder(RequestBodyLimitResponder):
    """Starlette's responder (Starlette 1.x), answering 413 in our JSON form. Route-level
    ``max_body_size`` finds it in the scope and raises or lowers its limit, as with Starlette's."""

    async def __call__(self, scope, receive, send) -> None:
        previous = scope.get(MAX_BODY_SIZE_SCOPE_KEY, _Missing())
        scope[MAX_BODY_SIZE_SCOPE_KEY] = self.max_body_size
        self._scope, self._receive, self._send = scope, receive, send
        self.content_length = _get_content_length(scope)
        scope[_BODY_LIMIT_RESPONDER_SCOPE_KEY] = self
        try:
            await self.app(scope, self.receive_with_limit, self.send_with_limit)
        except _RequestBodyTooLarge:
            if self.response_started:
                raise
            await _answer_too_large(send, self.max_body_size)
        except _RequestBodyLimitResponseSent:
            pass
        finally:
            scope.pop(_BODY_LIMIT_RESPONDER_SCOPE_KEY, None)
            if isinstance(previous, _Missing):
                scope.pop(MAX_BODY_SIZE_SCOPE_KEY, None)
            else:
                scope[MAX_BODY_SIZE_SCOPE_KEY] = previous

    async def send_with_limit(self, message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
            if self.content_length is not None and self.content_length > self.max_body_size:
                # The app answered without reading a body declared too large: 413 instead.
                await _answer_too_large(self.send, self.max_body_size)
                raise _RequestBodyLimitResponseSent
        await self.send(message)


class BodyLimitMiddleware(RequestBodyLimitMiddleware):
    """``app.add_middleware(BodyLimitMiddleware, max_body_size=n)``."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or _BODY_LIMIT_RESPONDER_SCOPE_KEY in scope:
            return await self.app(scope, receive, send)
        await _Responder(self.app, self.max_body_size)(scope, receive, send)


def _is_json(scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";")[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class JsonDepthMiddleware:
    """``app.add_middleware(JsonDepthMiddleware, max_bytes=n)``: see the module's docstring."""

    def __init__(self, app, *, max_bytes: int, max_depth: int = JSON_DEPTH_MAX) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            return await self.app(scope, receive, send)
        length = _get_content_length(scope)
        if length is not None and length > self.max_bytes:
            return await self.app(scope, receive, send)
        held: list[dict] = []
        size, more = 0, True
        while more and size <= self.max_bytes:
            message = await receive()
            held.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if not more and held and held[-1]["type"] == "http.request":
            body = b"".join(m.get("body", b"") for m in held)
            if json_depth_exceeds(body, self.max_depth):
                error = JsonTooDeep(self.max_depth)
                payload = json.dumps(error.to_dict()).encode()
                await send({"type": "http.response.start", "status": 422, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
                await send({"type": "http.response.body", "body": payload})
                return
            held = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay():
            if held:
                return held.pop(0)
            return await receive()

        await self.app(scope, replay, send)
