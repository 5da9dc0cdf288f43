"""Receiving a multipart/form-data upload as a stream, with a size limit that stops reading
the request as soon as it is passed.

FastAPI's own form parsing reads the whole body before the handler runs, whatever its size.
Here python-multipart is fed chunk by chunk: ordinary fields are kept (small, bounded), the
file part is spooled (in memory up to 1 MiB, then a temporary file), so memory does not grow
with the file size and a 10 GB request is cut off after ``max_file_bytes``.

Only the file may be large. Everything else is bounded as it arrives, so that no request
holds more than a few KiB besides the file: at most ``MAX_FORM_FIELDS`` parts other than the
file (413 ``bidang_formulir_terlalu_banyak``), each part's headers at most
``MAX_PART_HEADER_BYTES`` (413 ``header_formulir_terlalu_besar``), each field's value at
most ``MAX_FIELD_BYTES`` (422 ``input_tidak_valid`` naming the field).
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


from kinerja_shared.errors import AppError

from kinerja_evidence.domain.model import FileTooLarge, invalid_input  # noqa: F401 (re-exported)

SPOOL_IN_MEMORY = 1024 * 1024
MAX_FIELD_BYTES = 8 * 1024
# The form has two fields (plan_id, item_id); room for a few a client adds on its own.
MAX_FORM_FIELDS = 8
MAX_PART_HEADER_BYTES = 8 * 1024
# Room for the part headers and boundaries around the file in a well-formed request.
ENVELOPE_ALLOWANCE = 64 * 1024


class TooManyFormFields(AppError):
    def __init__(self) -> None:
        super().__init__(
            "bidang_formulir_terlalu_banyak",
            f"Formulir berisi terlalu banyak bidang (paling banyak {MAX_FORM_FIELDS} selain berkas).",
            f"Too many form fields (at most {MAX_FORM_FIELDS} besides the file).",
            status_code=413, details={"max_fields": MAX_FORM_FIELDS},
        )


class PartHeadersTooLarge(AppError):
    def __init__(self) -> None:
        super().__init__(
            "header_formulir_terlalu_besar",
            f"Header salah satu bagian formulir terlalu besar (paling banyak {MAX_PART_HEADER_BYTES} byte).",
            f"A form part's headers are too large (at most {MAX_PART_HEADER_BYTES} bytes).",
            status_code=413, details={"max_bytes": MAX_PART_HEADER_BYTES},
        )


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
    counts = {"fields": 0, "header_bytes": 0}

    def fail(error: AppError) -> None:
        if state["error"] is None:
            state["error"] = error

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()
        counts["header_bytes"] = 0

    def header_bytes(n: int) -> bool:
        counts["header_bytes"] += n
        if counts["header_bytes"] > MAX_PART_HEADER_BYTES:
            fail(PartHeadersTooLarge())
            return False
        return True

    def on_header_field(data: bytes, start: int, end: int) -> None:
        if header_bytes(end - start):
            header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        if header_bytes(end - start):
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
                fail(invalid_input("hanya satu berkas per unggahan", file_field, "Only one file per upload."))
                return
            part.is_file = True
            state["file_started"] = True
            raw_name = options.get(b"filename")
            form.file_name = raw_name.decode("utf-8", "replace") if raw_name is not None else None
            form.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        else:
            counts["fields"] += 1
            if counts["fields"] > MAX_FORM_FIELDS:
                fail(TooManyFormFields())

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part.is_file:
            form.file_size += end - start
            if form.file_size > max_file_bytes:
                state["too_large"] = True
                return
            pending.append(data[start:end])
        elif state["error"] is None:
            part.data.extend(data[start:end])
            if len(part.data) > MAX_FIELD_BYTES:
                fail(invalid_input(f"paling banyak {MAX_FIELD_BYTES} byte", part.name,
                                   f"Field too long (at most {MAX_FIELD_BYTES} bytes)."))

    def on_part_end() -> None:
        if not part.is_file and part.name and state["error"] is None:
            try:
                form.fields[part.name] = part.data.decode("utf-8").strip()
            except UnicodeDecodeError:
                fail(invalid_input("bukan teks UTF-8", part.name, "Not UTF-8 text."))

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
