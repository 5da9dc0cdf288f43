"""What a file really is, judged from its bytes (magic numbers), never from its name or the
type the browser declared; and the cleaning of the user's file name.

Allowed: PDF, JPEG, PNG, DOCX / XLSX / PPTX (a ZIP whose entries include
``[Content_Types].xml`` and ``word/``, ``xl/`` or ``ppt/``), MP4 (an ISO-BMFF ``ftyp`` box).
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

import puremagic

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
MP4 = "video/mp4"

ALLOWED_CONTENT_TYPES = (PDF, JPEG, PNG, DOCX, XLSX, PPTX, MP4)

HEAD_BYTES = 4096
# ISO-BMFF brands that are still images (HEIF/AVIF), not video: they share the ftyp box.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
_OOXML = (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX))


@dataclass(frozen=True)
class Detection:
    """``content_type`` is set only for an allowed type; ``detected`` always says what was seen."""

    content_type: str | None
    detected: str

    @property
    def allowed(self) -> bool:
        return self.content_type is not None


def detect_content_type(file: BinaryIO) -> Detection:
    """Look at the content of a seekable binary file (it is left at position 0)."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    if not head:
        return Detection(None, "berkas kosong")
    if head.startswith(b"%PDF-"):
        return Detection(PDF, PDF)
    if head.startswith(b"\xff\xd8\xff"):
        return Detection(JPEG, JPEG)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Detection(PNG, PNG)
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return Detection(None, f"image/heif (brand {brand.decode('latin-1').strip()})")
        return Detection(MP4, MP4)
    if head.startswith(b"PK\x03\x04"):
        return _detect_zip(file)
    return Detection(None, describe_unknown(head))


def _detect_zip(file: BinaryIO) -> Detection:
    try:
        # Reads only the central directory at the end, never decompresses anything.
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return Detection(None, "application/zip (arsip ZIP rusak)")
    finally:
        file.seek(0)
    if "[Content_Types].xml" in names:
        if any(name.lower().endswith("vbaproject.bin") for name in names):
            return Detection(None, "dokumen Office bermakro (VBA)")
        for prefix, content_type in _OOXML:
            if any(name.startswith(prefix) for name in names):
                return Detection(content_type, content_type)
    return Detection(None, "application/zip (arsip ZIP)")


def describe_unknown(head: bytes) -> str:
    """A short human description of a type we do not accept, for the error message."""
    if head.startswith(b"\x7fELF"):
        return "application/x-executable (program ELF)"
    if head.startswith(b"MZ"):
        return "application/vnd.microsoft.portable-executable (program Windows)"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:512]:
        return "text/html (halaman HTML)"
    try:
        matches = puremagic.magic_string(head)
    except Exception:  # puremagic raises when nothing matches
        matches = []
    if matches:
        best = matches[0]
        return f"{best.mime_type or 'application/octet-stream'} ({best.name})"
    try:
        head.decode("utf-8")
        return "text/plain (teks)"
    except UnicodeDecodeError:
        return "application/octet-stream (tidak dikenal)"


MAX_FILE_NAME = 200
_BLANKS = "\t\n\r\v\f"  # control characters that separate words: become spaces
DEFAULT_FILE_NAME = "berkas"


def clean_file_name(raw: str | None) -> str:
    """The user's file name as safe metadata: last path component only, no control or format
    characters (e.g. the right-to-left override used to disguise extensions), at most 200
    characters with the extension kept. It is never used as an object key."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        " " if ch in _BLANKS else ch
        for ch in name
        if ch in _BLANKS or unicodedata.category(ch)[0] != "C"
    )
    name = " ".join(name.split())  # collapse whitespace runs, trim the ends
    if not name.strip("."):
        return DEFAULT_FILE_NAME
    if len(name) > MAX_FILE_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 0 < len(ext) <= 16:
            name = stem[: MAX_FILE_NAME - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_FILE_NAME].rstrip()
    return name
