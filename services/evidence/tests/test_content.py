"""Unit tests: the type of a file comes from its bytes; the user's file name is cleaned."""

from __future__ import annotations

import io
import zipfile
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


# ---------------------------------------------------------------- whole-file inspection

from kinerja_evidence.domain.content import POLICIES, inspect_content, policy_named  # noqa: E402

POLICY = POLICIES["pmm-2024"]


def inspect(data: bytes, declared: str | None = None):
    return inspect_content(io.BytesIO(data), len(data), POLICY, declared=declared)


def test_a_whole_pdf_passes_and_a_truncated_one_is_refused_with_the_reason():
    assert inspect(samples.PDF).content_type == PDF
    cut = inspect(samples.PDF[:-7])
    assert (cut.problem, cut.content_type) == ("damaged", None)
    assert "%%EOF" in cut.reason
    # %%EOF far before the end (more than 1024 bytes of junk after it) is not a whole PDF either.
    assert inspect(samples.PDF + b"x" * 2000).problem == "damaged"


def test_declared_type_must_agree_with_the_bytes():
    assert inspect(samples.png(), declared="image/png").content_type == PNG
    assert inspect(samples.png(), declared="image/png; charset=binary").content_type == PNG
    mismatch = inspect(samples.png(), declared="application/pdf")
    assert mismatch.problem == "mismatch" and "image/png" in mismatch.reason
    assert inspect(samples.HTML, declared="application/pdf").problem == "type"
    assert inspect(samples.elf(), declared="application/pdf").problem == "type"


def _bomb(size_mb: int, *, entries: int = 1) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for i in range(entries):
            with archive.open(f"word/part{i}.xml", "w", force_zip64=True) as entry:
                for _ in range(size_mb):
                    entry.write(b"\0" * (1024 * 1024))
    return buffer.getvalue()


def test_zip_bombs_posing_as_docx_are_refused_from_the_directory_alone():
    ratio = inspect(_bomb(20))  # 20 MB of zeros in a few KB: expands far beyond the ratio
    assert ratio.problem == "damaged" and "bom ZIP" in ratio.reason
    total = inspect(_bomb(90, entries=3))  # 270 MB declared uncompressed in all
    assert total.problem == "damaged" and "bom ZIP" in total.reason
    assert inspect(samples.ooxml("word")).content_type == DOCX


def test_overlapping_zip_entries_are_refused():
    # Two directory entries pointing at the same compressed data: compressed sizes then add
    # up to more than the archive (the overlapping-files bomb).
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "x" * 5000)
    data = buffer.getvalue()
    eocd = data.rindex(b"PK\x05\x06")
    cd_offset = int.from_bytes(data[eocd + 16:eocd + 20], "little")
    central = data[cd_offset:eocd]
    second = central[central.index(b"PK\x01\x02", 4):]
    forged = data[:cd_offset] + central + second * 3
    count = 2 + 3
    tail = bytearray(data[eocd:])
    tail[8:10] = count.to_bytes(2, "little")
    tail[10:12] = count.to_bytes(2, "little")
    tail[12:16] = (len(central) + 3 * len(second)).to_bytes(4, "little")
    forged += bytes(tail)
    result = inspect(forged)
    assert result.problem == "damaged" and "tumpang tindih" in result.reason


def test_policies_are_data_and_an_unknown_policy_falls_back():
    assert policy_named("ruang-gtk-2025").limit_for(MP4) == POLICY.limit_for(MP4)
    assert policy_named("tidak-ada").name == "pmm-2024"
    assert set(POLICY.allowed) == {PDF, JPEG, PNG, DOCX, XLSX, PPTX, MP4}


# ---------------------------------------------------------------- resumable SHA-256

def test_resumable_sha256_state_survives_a_round_trip():
    import hashlib
    import os

    from kinerja_evidence.adapters import sha256state

    assert sha256state.AVAILABLE
    data = os.urandom(3 * 1024 * 1024 + 17)
    hasher = sha256state.ResumableSha256()
    hasher.update(data[:1_000_003])
    saved = hasher.state()
    resumed = sha256state.ResumableSha256(saved)  # as another request or replica would
    resumed.update(data[1_000_003:])
    assert resumed.hexdigest() == hashlib.sha256(data).hexdigest()
    assert resumed.hexdigest() == resumed.hexdigest()  # the digest does not consume the state
    with pytest.raises(ValueError):
        sha256state.ResumableSha256(b"short")


# ---------------------------------------------------------------- rules

def test_part_sizes_and_the_execution_window():
    from datetime import date

    from kinerja_evidence.domain.model import (
        ExecutionWindowClosed,
        check_execution_window,
        expected_part_size,
        parts_for,
    )

    assert parts_for(10, 5) == 2 and parts_for(11, 5) == 3 and parts_for(1, 5) == 1
    assert [expected_part_size(11, 5, n) for n in (1, 2, 3)] == [5, 5, 1]

    class Period:
        period_id = "p"
        execution_starts_on = date(2026, 2, 1)
        execution_ends_on = date(2026, 5, 31)
        closed_at = None

    check_execution_window(Period(), date(2026, 5, 31))
    check_execution_window(None, date(2030, 1, 1))  # unknown period: no window
    with pytest.raises(ExecutionWindowClosed):
        check_execution_window(Period(), date(2026, 6, 1))


# ---------------------------------------------------------------- sizes checked while inflating

def test_a_zip_whose_directory_lies_about_sizes_is_refused_while_inflating():
    # 200 MiB of zeros (about 200 KB compressed) claimed as 400 KB: ratio about 2, total tiny.
    bomb = samples.lying_docx(200 * 1024 * 1024, 400_000)
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:  # what a directory-only check sees
        info = archive.getinfo("word/document.xml")
        assert info.file_size == 400_000 and info.file_size < 4 * info.compress_size
    result = inspect(bomb)
    assert (result.problem, result.content_type) == ("damaged", None)
    assert "bom ZIP" in result.reason and "document.xml" in result.reason
    # A smaller lie (the entry is bigger than the directory says, no bomb): refused too.
    small = inspect(samples.lying_docx(300_000, 1_000))
    assert small.problem == "damaged" and "direktori" in small.reason
    # Claiming more than there is: also a directory that lies.
    assert inspect(samples.lying_docx(1_000, 300_000)).problem == "damaged"


def test_an_honest_office_file_with_large_parts_passes_the_inflation_check():
    import os

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/", "")  # a directory entry
        archive.writestr("word/document.xml", b"<w:p>" + os.urandom(1_500_000).hex().encode() + b"</w:p>")  # 3 MB
        archive.writestr("word/media/foto.png", os.urandom(2 * 1024 * 1024), zipfile.ZIP_STORED)
    assert inspect(buffer.getvalue()).content_type == DOCX


def test_entries_that_cannot_be_inflated_safely_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<doc/>")
    refused = inspect(buffer.getvalue())
    assert refused.problem == "damaged" and "kompresi" in refused.reason


# ---------------------------------------------------------------- PDF polyglots


def test_pdf_polyglots_are_refused():
    polyglot = samples.pdf_zip_polyglot()
    assert zipfile.is_zipfile(io.BytesIO(polyglot)) and polyglot.startswith(b"%PDF-")
    zipped = inspect(polyglot)
    assert zipped.problem == "type" and "application/zip" in zipped.detected and "poliglot" in zipped.detected
    # A ZIP simply appended (no comment trick): refused as well.
    assert inspect(samples.PDF + samples.plain_zip() + b"\n%%EOF\n").problem == "type"
    # HTML that a sniffing browser would run, right behind the header.
    html = b"%PDF-1.4\n%<html><body><script>alert(document.domain)</script></body></html>\n" + samples.PDF[9:]
    sniffed = inspect(html)
    assert sniffed.problem == "type" and "text/html" in sniffed.detected
    # Anything but white space after the last %%EOF (a second format hiding at the end).
    longer = b"%PDF-1.4\n%" + b"x" * 2000 + b"\n" + samples.PDF[9:]
    assert inspect(longer).content_type == PDF
    trailing = inspect(longer + b"<script>alert(1)</script>")
    assert trailing.problem == "damaged" and "%%EOF" in trailing.reason
    # Content before the header: not a PDF at all (as before).
    assert inspect(b"GIF89a;" + samples.PDF).problem == "type"


def test_ordinary_pdfs_still_pass():
    assert inspect(samples.PDF).content_type == PDF
    assert inspect(samples.PDF + b"\r\n\x00\x00  \n").content_type == PDF  # padding after %%EOF
    # An incremental update: two %%EOF markers, the last one at the end.
    assert inspect(samples.PDF + b"1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF").content_type == PDF
