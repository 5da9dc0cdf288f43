"""Small but real files of each kind, built in code (no binary fixtures in the repository)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00\xff\x00\x00"  # one red pixel, filter byte first
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\xff\xdb\x00\x43\x00" + bytes(range(64))
    + b"\xff\xd9"
)

MP4 = (
    struct.pack(">I", 24) + b"ftyp" + b"isom" + struct.pack(">I", 512) + b"isomiso2"
    + struct.pack(">I", 16) + b"mdat" + b"\x00" * 8
)

HEIC = struct.pack(">I", 24) + b"ftyp" + b"heic" + struct.pack(">I", 0) + b"mif1heic"

HTML = b"<!DOCTYPE html>\n<html><head><title>bukan pdf</title></head><body>hai</body></html>\n"


def ooxml(folder: str, *, content_types_last: bool = False, macro: bool = False) -> bytes:
    """A minimal Office Open XML package: [Content_Types].xml plus a part under ``folder``."""
    buffer = io.BytesIO()
    entries = [
        ("_rels/.rels", "<Relationships/>"),
        (f"{folder}/document.xml", "<doc>isi</doc>"),
    ]
    content_types = ("[Content_Types].xml", "<Types/>")
    entries = entries + [content_types] if content_types_last else [content_types] + entries
    if macro:
        entries.append((f"{folder}/vbaProject.bin", "macro"))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries:
            archive.writestr(name, text)
    return buffer.getvalue()


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("foto.txt", "bukan dokumen office")
    return buffer.getvalue()


def elf() -> bytes:
    """The head of a real executable on this machine."""
    with open("/bin/true", "rb") as f:
        return f.read(64 * 1024)


def zip_bomb_docx(megabytes: int = 40) -> bytes:
    """A DOCX-looking package whose one part expands from a few KB to ``megabytes`` MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as entry:
            for _ in range(megabytes):
                entry.write(b"\0" * (1024 * 1024))
    return buffer.getvalue()


def lying_docx(real_bytes: int, claimed_bytes: int) -> bytes:
    """A DOCX-looking package whose word/document.xml inflates to ``real_bytes`` of zeros while
    its local header and central directory claim ``claimed_bytes``: a directory-only check
    sees a small, ordinary entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * real_bytes)
        archive.writestr("word/styles.xml", "<w:styles/>")
    data = bytearray(buffer.getvalue())
    eocd = data.rindex(b"PK\x05\x06")
    cd_offset = struct.unpack("<I", data[eocd + 16:eocd + 20])[0]
    central = data.index(b"word/document.xml", cd_offset) - 46  # its central directory header
    assert data[central:central + 4] == b"PK\x01\x02"
    local = struct.unpack("<I", data[central + 42:central + 46])[0]
    data[central + 24:central + 28] = struct.pack("<I", claimed_bytes)  # uncompressed size
    data[local + 22:local + 26] = struct.pack("<I", claimed_bytes)
    return bytes(data)


def pdf_zip_polyglot() -> bytes:
    """A PDF that is also a ZIP: the archive after the PDF body, its comment carrying the
    PDF's %%EOF, so the file still ends the way a PDF must."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.js", "alert(1)")
        archive.comment = b"\n%%EOF\n"
    return PDF + buffer.getvalue()
