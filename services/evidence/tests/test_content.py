"""Unit tests: the type of a file comes from its bytes; the user's file name is cleaned."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import evidence_samples as samples  # noqa: E402

from kinerja_evidence.domain.content import (  # noqa: E402
    DOCX,
    JPEG,
    MP4,
    PDF,
    PNG,
    PPTX,
    XLSX,
    clean_file_name,
    detect_content_type,
)


def detect(data: bytes):
    return detect_content_type(io.BytesIO(data))


@pytest.mark.parametrize(
    "data, expected",
    [
        (samples.PDF, PDF),
        (samples.JPEG, JPEG),
        (samples.png(), PNG),
        (samples.ooxml("word"), DOCX),
        (samples.ooxml("xl"), XLSX),
        (samples.ooxml("ppt"), PPTX),
        # LibreOffice writes [Content_Types].xml last: found through the central directory.
        (samples.ooxml("word", content_types_last=True), DOCX),
        (samples.MP4, MP4),
    ],
    ids=["pdf", "jpeg", "png", "docx", "xlsx", "pptx", "docx-ct-last", "mp4"],
)
def test_each_allowed_type_is_recognised(data, expected):
    detection = detect(data)
    assert detection.allowed
    assert detection.content_type == expected


def test_html_called_pdf_is_refused_and_named():
    detection = detect(samples.HTML)
    assert not detection.allowed
    assert detection.content_type is None
    assert "text/html" in detection.detected


def test_renamed_elf_executable_is_refused_and_named():
    detection = detect(samples.elf())
    assert not detection.allowed
    assert "ELF" in detection.detected


def test_empty_file_is_not_a_type():
    detection = detect(b"")
    assert not detection.allowed
    assert detection.detected == "berkas kosong"


def test_plain_zip_macro_office_and_heic_are_refused():
    assert detect(samples.plain_zip()).detected.startswith("application/zip")
    assert not detect(samples.plain_zip()).allowed
    macro = detect(samples.ooxml("word", macro=True))
    assert not macro.allowed and "makro" in macro.detected
    heic = detect(samples.HEIC)
    assert not heic.allowed and "heif" in heic.detected


def test_broken_zip_and_plain_text_are_refused():
    broken = detect(b"PK\x03\x04" + b"\x00" * 100)
    assert not broken.allowed and "rusak" in broken.detected
    text = detect("catatan harian guru".encode())
    assert not text.allowed and text.detected.startswith("text/plain")


def test_detection_leaves_the_file_at_its_start():
    f = io.BytesIO(samples.ooxml("word"))
    detect_content_type(f)
    assert f.tell() == 0


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("laporan.pdf", "laporan.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\guru\\Documents\\sertifikat.pdf", "sertifikat.pdf"),
        ("lap\x00or\x1fan\x7f.pdf", "laporan.pdf"),
        # The right-to-left override that makes "exe.pdf" look like "fdp.exe".
        ("foto\u202egnp.exe", "fotognp.exe"),
        ("  rapor   semester\t1 .pdf ", "rapor semester 1 .pdf"),
        ("", "berkas"),
        (None, "berkas"),
        ("..", "berkas"),
        ("dir/", "berkas"),
        ("Sertifikat Pelatihan Guru Penggerak – Angkatan 7.pdf", "Sertifikat Pelatihan Guru Penggerak – Angkatan 7.pdf"),
    ],
)
def test_file_name_cleaning(raw, cleaned):
    assert clean_file_name(raw) == cleaned


def test_long_file_name_is_cut_to_200_keeping_the_extension():
    name = clean_file_name("a" * 500 + ".docx")
    assert len(name) == 200
    assert name.endswith(".docx")
    assert len(clean_file_name("b" * 300)) == 200
