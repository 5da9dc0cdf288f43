"""What a file really is, judged from its bytes (magic numbers), never from its name or the
type the browser declared; and the cleaning of the user's file name.

Allowed: PDF, JPEG, PNG, DOCX / XLSX / PPTX (a ZIP whose entries include
``[Content_Types].xml`` and ``word/``, ``xl/`` or ``ppt/``), MP4 (an ISO-BMFF ``ftyp`` box).
"""

from __future__ import annotations

import re
import struct
import unicodedata
import zipfile
import zlib
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
        refused = _pdf_problem(file, size)
        if refused is not None:
            return refused
    if kind in (DOCX, XLSX, PPTX):
        reason = _zip_bomb_reason(file, size, policy)
        if reason:
            return Inspection(kind, problem="damaged", reason=reason)
    return Inspection(kind, content_type=kind)


def _normal(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _zip_bomb_reason(file: BinaryIO, size: int, policy: ContentPolicy) -> str | None:
    """First the bounds the central directory states (cheap, refuses most bombs without
    decompressing): the entry count, the declared uncompressed total, the expansion ratio, and
    entries that overlap (their compressed sizes adding up to more than the archive). Then,
    because the directory can lie, every entry is inflated as a stream and held to the size
    the directory states for it (:func:`_inflation_reason`)."""
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
    try:
        return _inflation_reason(file, size, infos)
    finally:
        file.seek(0)


# Compressed bytes read, and decompressed bytes produced, per step: the memory an inflation
# check holds, whatever the entry claims or really holds.
INFLATE_CHUNK = 64 * 1024
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... file name length, extra field length


def _inflation_reason(file: BinaryIO, size: int, infos: list[zipfile.ZipInfo]) -> str | None:
    """Inflate every entry (stored or deflated, as Office writes them) with a running byte
    budget: the size the directory states for it, which the bounds above have already held
    to the policy. Output beyond it stops the inflation at once (a bomb behind a lying
    directory never expands further than the budget); output short of it, or compressed data
    of another length than stated, is a directory that lies too. Nothing is kept: the output
    is only counted. Entries are taken in file order, so reading is sequential."""
    for info in sorted(infos, key=lambda i: i.header_offset):
        name = clean_file_name(info.filename)
        if info.flag_bits & 0x1:
            return f"entri {name} terenkripsi: isinya tidak dapat diperiksa"
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return f"entri {name} memakai metode kompresi {info.compress_type} (hanya stored/deflate)"
        file.seek(info.header_offset)
        header = file.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            return f"arsip ZIP rusak: header lokal entri {name} tidak ada"
        _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
        start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        available = size - start
        if info.compress_type == zipfile.ZIP_STORED:
            # No end marker: the stated sizes are all there is, and they must agree.
            if info.compress_size != info.file_size or info.compress_size > available:
                return f"arsip ZIP rusak: ukuran entri {name} tidak sesuai direktori"
            continue
        file.seek(start)
        produced, consumed = _inflate(file, available, budget=info.file_size)
        if produced > info.file_size:
            return (f"bom ZIP: entri {name} mengembang melebihi {info.file_size} byte "
                    "yang tercatat di direktori arsip")
        if produced < 0:
            return f"arsip ZIP rusak: data entri {name} terpotong atau tidak valid"
        if produced != info.file_size or consumed != info.compress_size:
            return f"arsip ZIP rusak: ukuran entri {name} tidak sesuai direktori"
    return None


def _inflate(file: BinaryIO, available: int, *, budget: int) -> tuple[int, int]:
    """Raw-deflate from the file's position until the stream ends: (bytes produced, compressed
    bytes consumed). Stops as soon as the output passes ``budget`` (returning budget + 1);
    (-1, -1) for a stream that is cut short or invalid."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    fed = produced = 0
    try:
        while not inflater.eof:
            chunk = inflater.unconsumed_tail
            if not chunk:
                chunk = file.read(min(INFLATE_CHUNK, available - fed))
                if not chunk:
                    return -1, -1
                fed += len(chunk)
            # At most INFLATE_CHUNK out per step: the rest waits in unconsumed_tail.
            produced += len(inflater.decompress(chunk, INFLATE_CHUNK))
            if produced > budget:
                return budget + 1, fed
    except zlib.error:
        return -1, -1
    return produced, fed - len(inflater.unused_data)


# Markup a sniffing browser (old Internet Explorer looked at the first 256 bytes) would run as
# a page; a real PDF has no reason to carry it uncompressed right behind its header.
PDF_HEAD_SCAN = 1024
_HTML_MARKERS = (b"<html", b"<script", b"<!doctype", b"<body", b"<head", b"<iframe", b"<svg", b"<object", b"<embed")
# What a PDF writer may leave after the final %%EOF: end-of-line characters, spaces, NUL padding.
_PDF_TRAILING_PADDING = b" \t\r\n\f\x00"


def _pdf_problem(file: BinaryIO, size: int) -> Inspection | None:
    """A PDF must be only a PDF (a polyglot is served as PDF but read by something else as a
    ZIP/JAR or a web page): ``%PDF-`` at byte 0 (detection already requires it), no HTML markup
    in the first KiB, no ZIP archive a ZIP reader would find (its end record sits in the last
    64 KiB: read from there and from the directory it names), and after the last ``%%EOF`` (in
    the last 1024 bytes, as the spec wants) nothing but padding. See docs/operations.md for what
    this does not catch."""
    file.seek(0)
    head = file.read(PDF_HEAD_SCAN).lower()
    if any(marker in head for marker in _HTML_MARKERS):
        return Inspection("application/pdf + text/html (berkas poliglot)", problem="type",
                          reason="PDF yang juga halaman HTML")
    if _holds_a_zip(file):
        return Inspection("application/pdf + application/zip (berkas poliglot)", problem="type",
                          reason="PDF yang juga arsip ZIP")
    file.seek(max(0, size - PDF_TAIL_BYTES))
    tail = file.read(PDF_TAIL_BYTES)
    file.seek(0)
    end = tail.rfind(b"%%EOF")
    if end < 0:
        return Inspection(PDF, problem="damaged", reason="PDF terpotong: penanda akhir %%EOF tidak ada")
    if tail[end + 5:].strip(_PDF_TRAILING_PADDING):
        return Inspection(PDF, problem="damaged", reason="ada data lain setelah penanda akhir %%EOF")
    return None


def _holds_a_zip(file: BinaryIO) -> bool:
    """A ZIP reader would open it: an end record and a central directory that parses (a stray
    end-record signature inside compressed PDF data does not make one)."""
    try:
        with zipfile.ZipFile(file) as archive:
            return bool(archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error):
        return False
    finally:
        file.seek(0)


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
