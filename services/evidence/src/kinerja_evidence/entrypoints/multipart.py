"""Receiving a multipart/form-data upload as a stream, with a size limit that stops reading
the request as soon as it is passed.

FastAPI's own form parsing reads the whole body before the handler runs, whatever its size.
Here python-multipart is fed chunk by chunk: ordinary fields are kept (small, bounded), the
file part is spooled (in memory up to 1 MiB, then a temporary file), so memory does not grow
with the file size and a 10 GB request is cut off after ``max_file_bytes``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header


from kinerja_evidence.domain.model import FileTooLarge, invalid_input  # noqa: F401 (re-exported)

SPOOL_IN_MEMORY = 1024 * 1024
MAX_FIELD_BYTES = 8 * 1024
# Room for the part headers and boundaries around the file in a well-formed request.
ENVELOPE_ALLOWANCE = 64 * 1024


@dataclass
class ReceivedForm:
    fields: dict[str, str] = field(default_factory=dict)
    file: tempfile.SpooledTemporaryFile | None = None
    file_size: int = 0
    file_name: str | None = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


async def receive_form(
    request: Request,
    *,
    file_field: str,
    max_file_bytes: int,
    before_file: Callable[[dict[str, str]], Awaitable[None]] | None = None,
) -> ReceivedForm:
    """Read the form. ``before_file`` runs once, when the file part starts, with the fields
    seen so far: it may refuse the request before the file's bytes are read."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise invalid_input(
            "harus multipart/form-data dengan bidang plan_id dan file", None,
            "Expected multipart/form-data with the fields plan_id and file.",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_file_bytes + ENVELOPE_ALLOWANCE:
        raise FileTooLarge(max_file_bytes)  # refused before a single byte is read

    form = ReceivedForm()
    part = _Part()
    header_name = bytearray()
    header_value = bytearray()
    pending: list[bytes] = []
    state = {"file_started": False, "checked": False, "too_large": False, "error": None}

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        part.headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if part.name == file_field:
            if state["file_started"]:
                state["error"] = invalid_input("hanya satu berkas per unggahan", file_field, "Only one file per upload.")
                return
            part.is_file = True
            state["file_started"] = True
            raw_name = options.get(b"filename")
            form.file_name = raw_name.decode("utf-8", "replace") if raw_name is not None else None
            form.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part.is_file:
            form.file_size += end - start
            if form.file_size > max_file_bytes:
                state["too_large"] = True
                return
            pending.append(data[start:end])
        else:
            part.data.extend(data[start:end])
            if len(part.data) > MAX_FIELD_BYTES:
                state["error"] = invalid_input("bidang terlalu panjang", part.name, "Field too long.")

    def on_part_end() -> None:
        if not part.is_file and part.name:
            try:
                form.fields[part.name] = part.data.decode("utf-8").strip()
            except UnicodeDecodeError:
                state["error"] = invalid_input("bukan teks UTF-8", part.name, "Not UTF-8 text.")

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if state["too_large"]:
                raise FileTooLarge(max_file_bytes)  # stop reading here
            if state["error"] is not None:
                raise state["error"]
            if state["file_started"] and not state["checked"]:
                state["checked"] = True
                if before_file is not None:
                    await before_file(dict(form.fields))
            if pending:
                await _write(form.file, pending)  # type: ignore[arg-type]
                pending.clear()
        parser.finalize()
        if state["error"] is not None:
            raise state["error"]
    except FormParserError as exc:
        form.close()
        raise invalid_input("isi multipart rusak", None, "Malformed multipart body.") from exc
    except BaseException:
        form.close()
        raise
    if form.file is not None:
        form.file.seek(0)
    return form


async def _write(spool: tempfile.SpooledTemporaryFile, chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    if getattr(spool, "_rolled", False):  # on disk now: keep the event loop free
        await asyncio.to_thread(spool.write, data)
    else:
        spool.write(data)
