"""Resumable uploads through the service against real S3 (SeaweedFS), real NATS and both
databases: parts in order and checked, the server's view, completion with whole-file checks,
someone else's upload refused, abandoned uploads swept, presigned direct uploads confirmed.
Every refusal leaves nothing: no session rows, no S3 multipart upload, no object, no event."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import httpx
from kinerja_shared.events import parse_envelope
from kinerja_shared.testing.wait import eventually as wait_for

sys.path.insert(0, str(Path(__file__).parent))
import evidence_samples as samples  # noqa: E402
from kinerja_evidence.domain.model import today_in_jakarta as jakarta_today  # noqa: E402

MiB = 1024 * 1024


def big_pdf(size: int) -> bytes:
    """A PDF of exactly ``size`` bytes (random filler in a comment; a real %%EOF at the end)."""
    head, tail = b"%PDF-1.4\n%", b"\n" + samples.PDF[9:]
    return head + os.urandom(size - len(head) - len(tail)) + tail


async def assert_nothing_stored(service):
    sessions, parts = await service.upload_rows()
    assert (sessions, parts) == ([], [])
    assert service.multipart_uploads() == []
    assert service.objects() == []
    assert await service.evidence_rows() == []
    assert await service.outbox_count() == 0


async def test_parts_in_order_checked_resumed_and_completed(service):
    await_period = await service.open_period()
    plan = await service.approved_plan(period_id=await_period)
    guru = service.guru(plan.teacher_nip)
    data = big_pdf(2 * 5 * MiB + 1234)
    parts = [data[:5 * MiB], data[5 * MiB:10 * MiB], data[10 * MiB:]]

    started = await service.start_upload(plan, data, guru, name="C:\\Users\\guru\\Modul Ajar.pdf")
    assert started.status_code == 201, started.text
    info = started.json()
    upload_id = info["upload_id"]
    assert (info["part_size"], info["parts_total"], info["offset"], info["next_part"]) == (5 * MiB, 3, 0, 1)
    assert info["file_name"] == "Modul Ajar.pdf" and info["status"] == "open"
    assert len(service.multipart_uploads()) == 1

    assert (await service.put_part(upload_id, 1, parts[0], guru)).status_code == 200
    # Out of order: part 3 before part 2.
    skipped = await service.put_part(upload_id, 3, parts[2], guru)
    assert skipped.status_code == 409
    assert skipped.json()["error"]["code"] == "bagian_tidak_berurutan"
    assert skipped.json()["error"]["details"]["expected_part"] == 2
    # Damaged in transit: the bytes do not match the declared checksum.
    damaged = await service.put_part(upload_id, 2, parts[1][:-1] + b"X", guru, sha256=hashlib.sha256(parts[1]).hexdigest())
    assert (damaged.status_code, damaged.json()["error"]["code"]) == (422, "checksum_bagian_salah")
    # A part of the wrong size, and one without its checksum header.
    short = await service.put_part(upload_id, 2, parts[1][:1000], guru)
    assert (short.status_code, short.json()["error"]["code"]) == (422, "ukuran_bagian_salah")
    bare = await service.client.put(f"/v1/uploads/{upload_id}/parts/2", content=parts[1], headers=guru)
    assert (bare.status_code, bare.json()["error"]["code"]) == (422, "input_tidak_valid")
    # Part 1 sent again (the answer was lost): acknowledged, nothing changes.
    again = await service.put_part(upload_id, 1, parts[0], guru)
    assert again.status_code == 200 and again.json()["parts_received"] == [1]
    # Part 1 again with other bytes: refused.
    other = await service.put_part(upload_id, 1, b"%PDF-1.4\n" + parts[0][9:-1] + b"Y", guru)
    assert other.status_code == 409

    # What the server has.
    status = (await service.client.get(f"/v1/uploads/{upload_id}", headers=guru)).json()
    assert (status["parts_received"], status["offset"], status["next_part"]) == ([1], 5 * MiB, 2)

    # Completing early is refused; then the rest, then completion.
    early = await service.client.post(f"/v1/uploads/{upload_id}/complete", headers=guru)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "unggahan_belum_lengkap")
    assert (await service.put_part(upload_id, 2, parts[1], guru)).status_code == 200
    last = await service.put_part(upload_id, 3, parts[2], guru)
    assert last.json()["offset"] == len(data) and last.json()["next_part"] is None
    done = await service.client.post(f"/v1/uploads/{upload_id}/complete", headers=guru)
    assert done.status_code == 201, done.text
    evidence = done.json()
    assert evidence["sha256"] == hashlib.sha256(data).hexdigest()
    assert (evidence["size_bytes"], evidence["content_type"]) == (len(data), "application/pdf")
    assert (evidence["item_id"], evidence["upload_method"], evidence["status"]) == ("pk-1", "parts", "submitted")

    # The object holds exactly the bytes; no multipart upload is left behind.
    key = f"evidence/{plan.school_npsn}/{plan.teacher_nip}/{evidence['evidence_id']}"
    assert service.objects() == [key]
    assert service.multipart_uploads() == []
    stored = service.minio.get_object(service.settings.s3_bucket, key)
    try:
        assert hashlib.sha256(stored.read()).hexdigest() == evidence["sha256"]
    finally:
        stored.close()
        stored.release_conn()
    # Completing again (the answer was lost) gives the same evidence, not a second one.
    repeat = await service.client.post(f"/v1/uploads/{upload_id}/complete", headers=guru)
    assert repeat.status_code == 201 and repeat.json()["evidence_id"] == evidence["evidence_id"]
    assert len(await service.evidence_rows()) == 1
    sessions, part_rows = await service.upload_rows()
    assert [s.status for s in sessions] == ["completed"] and part_rows == []
    assert await service.outbox_events() == ["evidence.evidence.uploaded"]


async def test_someone_elses_upload_is_refused(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    owner = service.guru(plan.teacher_nip)
    data = big_pdf(5 * MiB + 10)
    upload_id = (await service.start_upload(plan, data, owner)).json()["upload_id"]
    thief = service.guru(service.new_plan().teacher_nip)
    assessor = service.assessor()
    for who in (thief, assessor):
        for response in (
            await service.client.get(f"/v1/uploads/{upload_id}", headers=who),
            await service.put_part(upload_id, 1, data[:5 * MiB], who),
            await service.client.post(f"/v1/uploads/{upload_id}/complete", headers=who),
            await service.client.delete(f"/v1/uploads/{upload_id}", headers=who),
        ):
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "akses_ditolak"
    sessions, parts = await service.upload_rows()
    assert len(sessions) == 1 and parts == []
    # The owner abandons it: the multipart upload and the rows are gone.
    assert (await service.client.delete(f"/v1/uploads/{upload_id}", headers=owner)).status_code == 204
    assert (await service.client.get(f"/v1/uploads/{upload_id}", headers=owner)).status_code == 404
    await assert_nothing_stored(service)


async def test_bad_starts_store_nothing(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    closed_period = await service.open_period(
        execution=(jakarta_today() - timedelta(days=60), jakarta_today() - timedelta(days=1))
    )
    late = await service.approved_plan(plan.teacher_nip, period_id=closed_period)
    data = big_pdf(6 * MiB)
    cases = [
        ("executable declared", dict(content_type="application/x-msdownload"), 415, "jenis_berkas_tidak_didukung"),
        ("html declared", dict(content_type="text/html"), 415, "jenis_berkas_tidak_didukung"),
        ("empty", dict(size=0), 422, "berkas_kosong"),
        ("over the PDF limit", dict(size=21 * MiB), 413, "berkas_terlalu_besar"),
        ("bad sha256", dict(sha256="abc"), 422, "input_tidak_valid"),
        ("unknown item", dict(item_id="bukan-butir"), 422, "butir_rencana_tidak_ditemukan"),
        ("negative size", dict(size=-1), 422, "input_tidak_valid"),
    ]
    for label, kwargs, status, code in cases:
        response = await service.start_upload(plan, data, guru, **kwargs)
        assert response.status_code == status, (label, response.text)
        assert response.json()["error"]["code"] == code, label
        assert response.json()["error"]["message"], label
    window = await service.start_upload(late, data, guru)
    assert (window.status_code, window.json()["error"]["code"]) == (409, "masa_pelaksanaan_ditutup")
    assert window.json()["error"]["details"]["execution_ends_on"] == str(jakarta_today() - timedelta(days=1))
    other = await service.start_upload(plan, data, service.guru(service.new_plan().teacher_nip))
    assert (other.status_code, other.json()["error"]["code"]) == (403, "akses_ditolak")
    await assert_nothing_stored(service)


async def test_wrong_content_in_the_first_part_ends_the_upload(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    size = 5 * MiB + 100
    cases = [
        (b"<!DOCTYPE html><html>" + b" " * (size - 21), "application/pdf", "jenis_berkas_tidak_didukung", "text/html"),
        (samples.elf() + b"\0" * (size - len(samples.elf())), "application/pdf", "jenis_berkas_tidak_didukung", "ELF"),
        (samples.png() + b"\0" * (size - len(samples.png())), "application/pdf", "jenis_berkas_tidak_sesuai", "image/png"),
    ]
    for data, declared, code, detected in cases:
        started = await service.start_upload(plan, data, guru, content_type=declared)
        upload_id = started.json()["upload_id"]
        refused = await service.put_part(upload_id, 1, data[:5 * MiB], guru)
        assert refused.status_code == 415, refused.text
        assert refused.json()["error"]["code"] == code
        assert detected in refused.json()["error"]["details"]["detected"]
        assert (await service.client.get(f"/v1/uploads/{upload_id}", headers=guru)).status_code == 404
    await assert_nothing_stored(service)


def zip_bomb_docx() -> bytes:
    """A DOCX whose one part expands from a few kilobytes to 300 MB (never unpacked here)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", "<Relationships/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as entry:
            block = b"\0" * MiB
            for _ in range(300):
                entry.write(block)
    return buffer.getvalue()


async def test_whole_file_checks_at_completion_store_nothing(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)

    whole = big_pdf(5 * MiB + 500)
    wrong_sha = await service.upload_in_parts(plan, whole, guru, sha256="0" * 64)
    assert (wrong_sha.status_code, wrong_sha.json()["error"]["code"]) == (422, "checksum_berkas_salah")
    assert wrong_sha.json()["error"]["details"]["computed"] == hashlib.sha256(whole).hexdigest()

    truncated = whole[: -len(b"%%EOF\n") - 200]
    cut = await service.upload_in_parts(plan, truncated, guru)
    assert (cut.status_code, cut.json()["error"]["code"]) == (422, "isi_berkas_tidak_valid")
    assert "%%EOF" in cut.json()["error"]["message"]

    bomb = zip_bomb_docx()
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    exploded = await service.upload_in_parts(plan, bomb, guru, content_type=docx, name="dokumen.docx")
    assert (exploded.status_code, exploded.json()["error"]["code"]) == (422, "isi_berkas_tidak_valid")
    assert "bom ZIP" in exploded.json()["error"]["message"]
    # The directory says 150 KB; inflating (ranged reads of the stored object) finds more.
    lying = await service.upload_in_parts(plan, samples.lying_docx(100 * MiB, 150_000), guru,
                                          content_type=docx, name="dokumen.docx")
    assert (lying.status_code, lying.json()["error"]["code"]) == (422, "isi_berkas_tidak_valid")
    assert "direktori" in lying.json()["error"]["message"]
    polyglot = await service.upload_in_parts(plan, samples.pdf_zip_polyglot(), guru)
    assert (polyglot.status_code, polyglot.json()["error"]["code"]) == (415, "jenis_berkas_tidak_didukung")
    assert "poliglot" in polyglot.json()["error"]["details"]["detected"]
    await assert_nothing_stored(service)


async def test_an_honest_office_file_is_inflated_from_storage_and_accepted(service):
    """The ZIP check inflates every entry by ranged reads of the stored object: a real-sized
    DOCX (XML that compresses, a photo that does not) passes, and reading it stays sequential."""
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<w:p>" + os.urandom(3 * MiB).hex().encode() + b"</w:p>")
        archive.writestr("word/media/foto.jpg", os.urandom(4 * MiB), zipfile.ZIP_STORED)
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    done = await service.upload_in_parts(plan, buffer.getvalue(), guru, content_type=docx, name="modul.docx")
    assert done.status_code == 201, done.text
    assert done.json()["content_type"] == docx


async def test_abandoned_uploads_are_swept(service_factory):
    from datetime import datetime, timezone

    from kinerja_evidence.adapters.storage import ObjectStorage
    from kinerja_evidence.service_layer.resumable import sweep_expired

    # The background sweep runs once at start and then not for an hour: the test sweeps when the
    # set-up is in place (a sweep every 0.2 s took the sessions before the set-up was checked
    # once the machine was busy). Expiry is the test's clock, not the wall's: sessions live an
    # hour and the sweep is told it is later than that (a 1 s expiry ran out before the first
    # part arrived under load: 404 on the part).
    expiry_s = 3600
    async with service_factory(upload_expiry_s=expiry_s, upload_sweep_interval_s=3600) as service:
        period = await service.open_period()
        plan = await service.approved_plan(period_id=period)
        guru = service.guru(plan.teacher_nip)
        data = big_pdf(5 * MiB + 10)
        upload_id = (await service.start_upload(plan, data, guru)).json()["upload_id"]
        assert (await service.put_part(upload_id, 1, data[:5 * MiB], guru)).status_code == 200
        presigned = await service.start_upload(plan, data, guru, mode="presigned", item_id="pk-2")
        async with httpx.AsyncClient() as outside:
            put = await outside.put(presigned.json()["upload_url"], content=data)
        assert put.status_code == 200
        assert len(service.objects()) == 1 and len(service.multipart_uploads()) == 1
        later = datetime.now(timezone.utc) + timedelta(seconds=expiry_s + 1)  # both sessions past their expiry
        assert await sweep_expired(service.runtime.uow, ObjectStorage.from_settings(service.settings), now=later) == 2
        sessions, parts = await service.upload_rows()
        assert not sessions and not parts and not service.multipart_uploads() and not service.objects()
        assert (await service.client.get(f"/v1/uploads/{upload_id}", headers=guru)).status_code == 404
        assert await service.evidence_rows() == []


async def crash_after_s3_completion(service) -> tuple[str, bytes, dict]:
    """An upload with every part sent, then completed in S3 only: what a service killed right
    after S3 completed it leaves (the object, no evidence row). Returns (upload id, bytes, guru)."""
    from minio.datatypes import Part

    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    data = big_pdf(5 * MiB + 10)
    upload_id = (await service.start_upload(plan, data, guru)).json()["upload_id"]
    for n, part in ((1, data[:5 * MiB]), (2, data[5 * MiB:])):
        assert (await service.put_part(upload_id, n, part, guru)).status_code == 200
    [session], parts = await service.upload_rows()
    service.minio._complete_multipart_upload(
        service.settings.s3_bucket, session.object_key, session.s3_upload_id,
        [Part(p.part_number, p.etag) for p in sorted(parts, key=lambda p: p.part_number)],
    )
    return upload_id, data, guru


async def test_a_crash_after_s3_completed_the_upload_is_finished_by_the_retry(service):
    """The teacher's client retries "complete" after the service died between S3's completion
    and the evidence row: the object already there is checked and recorded, once."""
    upload_id, data, guru = await crash_after_s3_completion(service)
    assert service.multipart_uploads() == [] and len(service.objects()) == 1
    assert await service.evidence_rows() == []

    done = await service.client.post(f"/v1/uploads/{upload_id}/complete", headers=guru)
    assert done.status_code == 201, done.text
    assert done.json()["sha256"] == hashlib.sha256(data).hexdigest()
    [row] = await service.evidence_rows()
    assert service.objects() == [row.object_key]
    again = await service.client.post(f"/v1/uploads/{upload_id}/complete", headers=guru)
    assert (again.status_code, again.json()["evidence_id"]) == (201, row.evidence_id)
    assert len(await service.evidence_rows()) == 1


async def test_a_crash_after_s3_completed_an_upload_nobody_retries_leaves_no_orphan(service):
    """No retry comes: the sweeper removes the completed object with the expired session."""
    from datetime import datetime, timezone

    from kinerja_evidence.adapters.storage import ObjectStorage
    from kinerja_evidence.service_layer.resumable import sweep_expired

    await crash_after_s3_completion(service)

    storage = ObjectStorage.from_settings(service.settings)
    later = datetime.now(timezone.utc) + timedelta(days=30)
    assert await sweep_expired(service.runtime.uow, storage, now=later) == 1
    assert service.objects() == [] and service.multipart_uploads() == []
    assert await service.upload_rows() == ([], []) and await service.evidence_rows() == []


async def test_presigned_upload_counts_only_once_confirmed(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    data = samples.png() + os.urandom(3000)

    started = await service.start_upload(plan, data, guru, mode="presigned", content_type="image/png", name="foto.png")
    assert started.status_code == 201, started.text
    info = started.json()
    assert info["upload_url"].startswith("http") and info["upload_url_expires_in_s"] == 900
    # Not there yet: confirming is refused and nothing counts.
    early = await service.client.post(f"/v1/uploads/{info['upload_id']}/complete", headers=guru)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "unggahan_belum_lengkap")
    async with httpx.AsyncClient() as outside:
        assert (await outside.put(info["upload_url"], content=data)).status_code == 200
    assert await service.evidence_rows() == []
    done = await service.client.post(f"/v1/uploads/{info['upload_id']}/complete", headers=guru)
    assert done.status_code == 201, done.text
    body = done.json()
    assert (body["sha256"], body["content_type"], body["upload_method"]) == (
        hashlib.sha256(data).hexdigest(), "image/png", "presigned")
    # Kept under the service's own key; the staging object is gone.
    assert service.objects() == [f"evidence/{plan.school_npsn}/{plan.teacher_nip}/{body['evidence_id']}"]

    # Bad direct uploads: other bytes than declared, a different size, a wrong checksum.
    bad = [
        (samples.HTML + b" " * (len(data) - len(samples.HTML)), "jenis_berkas_tidak_didukung", 415, None),
        (data + b"more", "ukuran_berkas_tidak_sesuai", 422, True),
        (samples.png() + os.urandom(3000), "checksum_berkas_salah", 422, True),
    ]
    for payload, code, status, sha in bad:
        s = await service.start_upload(plan, data, guru, mode="presigned", content_type="image/png",
                                       item_id="pk-2", sha256=sha)
        async with httpx.AsyncClient() as outside:
            assert (await outside.put(s.json()["upload_url"], content=payload)).status_code == 200
        refused = await service.client.post(f"/v1/uploads/{s.json()['upload_id']}/complete", headers=guru)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), refused.text
    assert len(service.objects()) == 1 and len(await service.evidence_rows()) == 1
    sessions, _ = await service.upload_rows()
    assert [s.status for s in sessions] == ["completed"]
    assert await service.outbox_events() == ["evidence.evidence.uploaded"]


async def test_completed_upload_event_carries_item_and_method(service):
    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    data = big_pdf(5 * MiB + 77)
    done = await service.upload_in_parts(plan, data, guru, item_id="kom-1")
    assert done.status_code == 201, done.text

    async def sent():
        from kinerja_shared.messaging.outbox import OutboxMessage
        from sqlmodel import select

        async with service.runtime.session_factory() as session:
            rows = (await session.exec(select(OutboxMessage))).all()
        return rows[0] if rows and rows[0].stream_seq else None

    row = await wait_for(sent)
    message = await service.js.get_msg("KINERJA_EVIDENCE", row.stream_seq)
    _, event = parse_envelope(message.data)
    assert (event.item_id, event.upload_method, event.reuse_flagged) == ("kom-1", "parts", False)
    assert event.sha256 == hashlib.sha256(data).hexdigest()


async def test_the_next_part_may_travel_while_the_previous_is_in_flight(service):
    """Two connections: part 2 arrives while part 1 is still being received; it is kept and
    recorded after part 1. A part whose predecessor is neither received nor in flight is
    refused."""
    import asyncio

    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    data = big_pdf(2 * 5 * MiB + 99)
    parts = [data[:5 * MiB], data[5 * MiB:10 * MiB], data[10 * MiB:]]
    upload_id = (await service.start_upload(plan, data, guru)).json()["upload_id"]

    # Part 3 with part 2 neither received nor in flight: refused at once.
    early = await service.put_part(upload_id, 3, parts[2], guru)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "bagian_tidak_berurutan")

    release = asyncio.Event()

    async def slow_part_1():
        yield parts[0][:MiB]
        await release.wait()  # part 1 stalls half-way (a slow link)
        yield parts[0][MiB:]

    first = asyncio.create_task(service.client.put(
        f"/v1/uploads/{upload_id}/parts/1", content=slow_part_1(),
        headers={**guru, "X-Part-SHA256": hashlib.sha256(parts[0]).hexdigest()}))
    await asyncio.sleep(0.3)  # part 1 is now in flight
    second = asyncio.create_task(service.put_part(upload_id, 2, parts[1], guru))
    await asyncio.sleep(0.3)
    assert not second.done()  # waiting for part 1, not refused
    release.set()
    one, two = await first, await second
    assert one.status_code == 200, one.text
    assert two.status_code == 200, two.text
    assert two.json()["parts_received"] == [1, 2]
    assert (await service.put_part(upload_id, 3, parts[2], guru)).status_code == 200
    done = await service.client.post(f"/v1/uploads/{upload_id}/complete", headers=guru)
    assert done.status_code == 201 and done.json()["sha256"] == hashlib.sha256(data).hexdigest()


async def test_an_upload_begun_inside_the_window_may_finish_after_it_closes(service_factory, tmp_path):
    """A slow link on the last evening: the window is judged on the day the upload started.
    A new upload is refused, and a closed period refuses even the one in progress."""
    from datetime import datetime, timezone

    from kinerja_shared.clock import FileClock
    from kinerja_shared.events import PeriodClosed
    from kinerja_shared.testing.wait import eventually

    from kinerja_evidence.adapters.tables import PeriodView

    clock = FileClock(tmp_path / "clock")
    clock.set(datetime.now(timezone.utc))
    async with service_factory(clock_file=str(clock.path)) as service:
        last_day = jakarta_today()
        period = await service.open_period(execution=(last_day - timedelta(days=30), last_day))
        plan = await service.approved_plan(period_id=period)
        guru = service.guru(plan.teacher_nip)
        data = big_pdf(5 * MiB + 5)
        late_one = (await service.start_upload(plan, data, guru)).json()["upload_id"]
        closing = (await service.start_upload(plan, data, guru, item_id="pk-2")).json()["upload_id"]
        for upload_id in (late_one, closing):
            assert (await service.put_part(upload_id, 1, data[:5 * MiB], guru)).status_code == 200

        clock.set(datetime.now(timezone.utc) + timedelta(days=1))  # past midnight: window closed
        refused = await service.start_upload(plan, data, guru, item_id="tt-1")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "masa_pelaksanaan_ditutup")
        assert (await service.put_part(late_one, 2, data[5 * MiB:], guru)).status_code == 200
        done = await service.client.post(f"/v1/uploads/{late_one}/complete", headers=guru)
        assert done.status_code == 201, done.text

        await service.publish(PeriodClosed(period_id=period, closed_at=datetime.now(timezone.utc)), "000000")

        async def closed():
            async with service.runtime.session_factory() as session:
                return (await session.get(PeriodView, period)).closed_at is not None

        await eventually(closed)
        assert (await service.put_part(closing, 2, data[5 * MiB:], guru)).status_code == 200
        after_close = await service.client.post(f"/v1/uploads/{closing}/complete", headers=guru)
        assert (after_close.status_code, after_close.json()["error"]["code"]) == (409, "masa_pelaksanaan_ditutup")
        assert len(service.objects()) == 1 and len(await service.evidence_rows()) == 1
        assert service.multipart_uploads() == []


async def test_a_presigned_url_used_again_leaves_nothing_behind(service):
    """The upload URL stays valid for KINERJA_UPLOAD_PRESIGN_PUT_TTL_S whatever happens to the
    session: a PUT after completion, after an abort or after a refused completion writes the
    staging key again. No session will ever confirm that object: the sweep removes it. A
    staging object of a session still open is left alone."""
    from kinerja_evidence.adapters.storage import ObjectStorage
    from kinerja_evidence.service_layer.resumable import staging_key, sweep

    period = await service.open_period()
    plan = await service.approved_plan(period_id=period)
    guru = service.guru(plan.teacher_nip)
    storage = ObjectStorage.from_settings(service.settings)
    data = samples.png() + os.urandom(3000)

    async def presigned(item_id: str, payload: bytes = data) -> dict:
        started = await service.start_upload(plan, data, guru, mode="presigned", content_type="image/png",
                                             item_id=item_id, name="foto.png")
        assert started.status_code == 201, started.text
        info = started.json()
        async with httpx.AsyncClient() as outside:
            assert (await outside.put(info["upload_url"], content=payload)).status_code == 200
        return info

    async def put_again(info: dict) -> None:
        async with httpx.AsyncClient() as outside:
            assert (await outside.put(info["upload_url"], content=os.urandom(50_000))).status_code == 200

    completed = await presigned("pk-1")
    done = await service.client.post(f"/v1/uploads/{completed['upload_id']}/complete", headers=guru)
    assert done.status_code == 201, done.text
    kept = f"evidence/{plan.school_npsn}/{plan.teacher_nip}/{done.json()['evidence_id']}"
    await put_again(completed)

    aborted = await presigned("pk-2")
    assert (await service.client.delete(f"/v1/uploads/{aborted['upload_id']}", headers=guru)).status_code == 204
    await put_again(aborted)

    refused = await presigned("tt-1", payload=samples.HTML + b" " * (len(data) - len(samples.HTML)))
    bad = await service.client.post(f"/v1/uploads/{refused['upload_id']}/complete", headers=guru)
    assert bad.status_code == 422, bad.text  # the declared SHA-256 does not match
    await put_again(refused)

    still_open = await presigned("kom-1")  # put, not confirmed yet: its object must stay

    orphans = {staging_key(i["upload_id"]) for i in (completed, aborted, refused)}
    assert orphans < set(service.objects())
    await sweep(service.runtime.uow, storage, pending_max_age_s=3600)
    assert sorted(service.objects()) == sorted([kept, staging_key(still_open["upload_id"])])
    confirmed = await service.client.post(f"/v1/uploads/{still_open['upload_id']}/complete", headers=guru)
    assert confirmed.status_code == 201, confirmed.text
    assert len(await service.evidence_rows()) == 2


async def test_open_uploads_per_user_are_capped_even_when_starts_race(service_factory):
    """KINERJA_MAX_OPEN_UPLOADS_PER_USER: a teacher with that many open sessions gets 409
    unggahan_terbuka_terlalu_banyak until one completes, is aborted or expires. Starts that
    race each other (several replicas, several tabs) cannot all pass: counting the open
    sessions and adding one happen under a per-teacher lock."""
    from sqlmodel import select

    from kinerja_evidence.adapters.tables import PendingObject

    async with service_factory(max_open_uploads_per_user=3) as service:
        period = await service.open_period()
        plan = await service.approved_plan(period_id=period)
        guru = service.guru(plan.teacher_nip)
        data = big_pdf(5 * MiB + 10)
        first = await service.start_upload(plan, data, guru)
        assert first.status_code == 201, first.text

        # Eight starts at once (parts and presigned) for the two free slots: exactly two pass.
        racing = await asyncio.gather(*(
            service.start_upload(plan, data, guru, mode="parts" if i % 2 else "presigned", item_id="pk-2")
            for i in range(8)))
        assert sorted(r.status_code for r in racing) == [201] * 2 + [409] * 6, [r.text for r in racing]
        refused = next(r for r in racing if r.status_code == 409).json()["error"]
        assert refused["code"] == "unggahan_terbuka_terlalu_banyak"
        assert refused["details"] == {"max_open": 3, "open": 3}
        assert refused["message"] and refused["message_en"]
        sessions, _ = await service.upload_rows()
        assert len(sessions) == 3
        # A refused start leaves no S3 multipart upload and no pending record behind.
        assert len(service.multipart_uploads()) == sum(1 for s in sessions if s.mode == "parts")
        async with service.runtime.session_factory() as db:
            assert (await db.exec(select(PendingObject))).all() == []

        # Another teacher is not held up by this one's uploads.
        other = await service.approved_plan(period_id=period)
        assert (await service.start_upload(other, data, service.guru(other.teacher_nip))).status_code == 201

        # Aborting one frees a slot.
        upload_id = first.json()["upload_id"]
        assert (await service.client.delete(f"/v1/uploads/{upload_id}", headers=guru)).status_code == 204
        assert (await service.start_upload(plan, data, guru)).status_code == 201
        assert (await service.start_upload(plan, data, guru)).status_code == 409
