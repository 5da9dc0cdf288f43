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

MiB = 1024 * 1024

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


@dataclass(frozen=True)
class ContentPolicy:
    """Which types a period's policy accepts and how large each may be (data, not code), and
    the bounds that make a ZIP container (DOCX/XLSX/PPTX) a bomb."""

    name: str
    max_bytes: dict[str, int]
    zip_max_uncompressed: int = 256 * MiB
    zip_max_ratio: int = 200
    zip_max_entries: int = 5000

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(self.max_bytes)

    def limit_for(self, content_type: str) -> int | None:
        return self.max_bytes.get(content_type)


_DEFAULT_LIMITS = {
    PDF: 20 * MiB, JPEG: 10 * MiB, PNG: 10 * MiB,
    DOCX: 20 * MiB, XLSX: 20 * MiB, PPTX: 50 * MiB, MP4: 512 * MiB,
}
# One entry per policy a period may name; a policy not listed falls back to "pmm-2024".
POLICIES: dict[str, ContentPolicy] = {
    "pmm-2024": ContentPolicy("pmm-2024", dict(_DEFAULT_LIMITS)),
    # Ruang GTK 2025 asks for no uploads by default; what is uploaded anyway is held to the same.
    "ruang-gtk-2025": ContentPolicy("ruang-gtk-2025", dict(_DEFAULT_LIMITS)),
    "2026": ContentPolicy("2026", dict(_DEFAULT_LIMITS)),
}


def policy_named(name: str | None) -> ContentPolicy:
    return POLICIES.get(name or "", POLICIES["pmm-2024"])


@dataclass(frozen=True)
class Inspection:
    """The verdict on a whole file: ``content_type`` when accepted, otherwise ``problem``
    (``type`` / ``mismatch`` / ``damaged``) with a reason in Bahasa Indonesia."""

    detected: str
    content_type: str | None = None
    problem: str | None = None
    reason: str | None = None


PDF_TAIL_BYTES = 1024  # the PDF spec wants %%EOF within the last 1024 bytes


def inspect_content(
    file: BinaryIO, size: int, policy: ContentPolicy, *, declared: str | None = None
) -> Inspection:
    """Judge a whole seekable file: the type from its head, then what that type needs from
    the rest (a PDF's %%EOF, a ZIP's central directory within the bomb bounds), then agreement
    with the declared type. Reads the head, the tail and the ZIP directory only."""
    detection = detect_content_type(file)
    if not detection.allowed or detection.content_type not in policy.allowed:
        return Inspection(detection.detected, problem="type", reason=f"terdeteksi: {detection.detected}")
    kind = detection.content_type
    if declared and _normal(declared) not in ("", "application/octet-stream") and _normal(declared) != kind:
        return Inspection(
            kind, problem="mismatch",
            reason=f"isi berkas adalah {kind}, bukan {_normal(declared)} seperti yang dinyatakan",
        )
    if kind == PDF:
        file.seek(max(0, size - PDF_TAIL_BYTES))
        tail = file.read(PDF_TAIL_BYTES)
        file.seek(0)
        if b"%%EOF" not in tail:
            return Inspection(kind, problem="damaged", reason="PDF terpotong: penanda akhir %%EOF tidak ada")
    if kind in (DOCX, XLSX, PPTX):
        reason = _zip_bomb_reason(file, size, policy)
        if reason:
            return Inspection(kind, problem="damaged", reason=reason)
    return Inspection(kind, content_type=kind)


def _normal(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _zip_bomb_reason(file: BinaryIO, size: int, policy: ContentPolicy) -> str | None:
    """Bounds from the central directory alone (nothing is decompressed): the entry count,
    the declared uncompressed total, the expansion ratio, and entries that overlap (their
    compressed sizes adding up to more than the archive)."""
    try:
        with zipfile.ZipFile(file) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "arsip ZIP rusak"
    finally:
        file.seek(0)
    if len(infos) > policy.zip_max_entries:
        return f"arsip berisi {len(infos)} entri (batas {policy.zip_max_entries})"
    uncompressed = sum(i.file_size for i in infos)
    compressed = sum(i.compress_size for i in infos)
    if uncompressed > policy.zip_max_uncompressed:
        return (
            f"bom ZIP: isi terurai {uncompressed} byte melebihi batas "
            f"{policy.zip_max_uncompressed} byte"
        )
    if compressed > size:
        return "bom ZIP: entri arsip saling tumpang tindih"
    for info in infos:
        # Small XML parts legitimately compress very well; only a large entry can be a bomb.
        if info.file_size > MiB and info.file_size > policy.zip_max_ratio * max(info.compress_size, 1):
            return (
                f"bom ZIP: entri {clean_file_name(info.filename)} mengembang "
                f"{info.file_size // max(info.compress_size, 1)} kali (batas {policy.zip_max_ratio})"
            )
    return None


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
