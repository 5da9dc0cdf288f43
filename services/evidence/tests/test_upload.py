"""Uploads end to end inside the service: real S3 (SeaweedFS), real NATS JetStream, both
databases. A good upload lands in the bucket, the table and the stream; a bad one leaves
nothing anywhere (no object, no row, no outbox event)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import httpx
from kinerja_shared.events import parse_envelope
from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.testing.http import bearer
from sqlalchemy import text
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).parent))
import evidence_samples as samples  # noqa: E402
from kinerja_shared.testing.wait import eventually as wait_for  # noqa: E402


async def _sent_outbox_row(service):
    async with service.runtime.session_factory() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    return rows[0] if len(rows) == 1 and rows[0].stream_seq else None


async def test_upload_stores_the_object_the_row_and_the_event(service):
    plan = await service.approved_plan()
    data = samples.PDF.replace(b"trailer", b"%" + b"x" * 4000 + b"\ntrailer")
    response = await service.upload(
        plan.plan_id, data, name="../../rahasia/Laporan\u202e Praktik.pdf",
        headers=service.guru(plan.teacher_nip), declared="text/html",  # declared type is ignored
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"evidence_id", "plan_id", "sha256", "size_bytes", "content_type", "file_name", "uploaded_at"}
    assert body["plan_id"] == plan.plan_id
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size_bytes"] == len(data)
    assert body["content_type"] == "application/pdf"
    assert body["file_name"] == "Laporan Praktik.pdf"

    # The object really is in the bucket, under a generated key, with the same bytes.
    key = f"evidence/{plan.school_npsn}/{plan.teacher_nip}/{body['evidence_id']}"
    assert service.objects() == [key]
    stat = service.minio.stat_object(service.settings.s3_bucket, key)
    assert stat.size == len(data) and stat.content_type == "application/pdf"
    stored = service.minio.get_object(service.settings.s3_bucket, key)
    try:
        assert hashlib.sha256(stored.read()).hexdigest() == body["sha256"]
    finally:
        stored.close()
        stored.release_conn()

    rows = await service.evidence_rows()
    assert [(r.evidence_id, r.object_key, r.period_id, r.teacher_nip) for r in rows] == [
        (body["evidence_id"], key, plan.period_id, plan.teacher_nip)
    ]

    # EvidenceUploaded is on the stream, under the school's region.
    row = await wait_for(lambda: _sent_outbox_row(service))
    message = await service.js.get_msg("KINERJA_EVIDENCE", row.stream_seq)
    assert message.subject == f"kinerja.evidence.evidence.uploaded.020000.{plan.region}"
    assert message.headers["Nats-Msg-Id"] == row.event_id
    envelope, event = parse_envelope(message.data)
    assert envelope.producer == "evidence" and envelope.region == plan.region
    assert event.evidence_id == body["evidence_id"]
    assert (event.sha256, event.size_bytes, event.file_name) == (body["sha256"], len(data), "Laporan Praktik.pdf")
    assert (event.period_id, event.school_npsn) == (plan.period_id, plan.school_npsn)

    # Listed and shown to the owner.
    guru = service.guru(plan.teacher_nip)
    listed = (await service.client.get("/v1/evidence", params={"plan_id": plan.plan_id}, headers=guru)).json()
    assert [e["evidence_id"] for e in listed["evidence"]] == [body["evidence_id"]]
    one = await service.client.get(f"/v1/evidence/{body['evidence_id']}", headers=guru)
    assert one.status_code == 200 and one.json()["sha256"] == body["sha256"]

    # The presigned URL downloads the same bytes, for the owner, the assessor and dinas.
    for who in (guru, service.assessor(), bearer("dinas", region=plan.region)):
        link = await service.client.get(f"/v1/evidence/{body['evidence_id']}/download", headers=who)
        assert link.status_code == 200, link.text
        assert link.json()["expires_in_s"] == 300
        async with httpx.AsyncClient() as outside:
            downloaded = await outside.get(link.json()["url"])
        assert downloaded.status_code == 200
        assert downloaded.content == data


async def test_others_may_not_read_or_download(service):
    plan = await service.approved_plan()
    created = await service.upload(plan.plan_id, samples.png(), name="foto.png", headers=service.guru(plan.teacher_nip))
    assert created.status_code == 201, created.text
    evidence_id = created.json()["evidence_id"]
    strangers = {
        "another guru": service.guru(plan.teacher_nip[:-3] + "999" if not plan.teacher_nip.endswith("999") else plan.teacher_nip[:-3] + "998"),
        "another kepala sekolah": bearer("kepala_sekolah", nip="196601011990031001", npsn=plan.school_npsn),
        "dinas of another district": bearer("dinas", region="350700"),
    }
    for who, headers in strangers.items():
        download = await service.client.get(f"/v1/evidence/{evidence_id}/download", headers=headers)
        assert download.status_code == 403, who
        assert download.json()["error"]["code"] == "akses_ditolak"
        assert "url" not in download.json() and "http" not in download.text
        assert (await service.client.get(f"/v1/evidence/{evidence_id}", headers=headers)).status_code == 403
        listed = await service.client.get("/v1/evidence", params={"plan_id": plan.plan_id}, headers=headers)
        assert listed.status_code == 403, who
    # Unknown ids and a missing plan_id are clear errors, not 500s.
    missing = await service.client.get("/v1/evidence/tidak-ada/download", headers=service.guru(plan.teacher_nip))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "bukti_tidak_ditemukan")
    no_plan = await service.client.get("/v1/evidence", params={"plan_id": "tidak-ada"}, headers=service.guru(plan.teacher_nip))
    assert (no_plan.status_code, no_plan.json()["error"]["code"]) == (404, "rencana_tidak_ditemukan")
    no_param = await service.client.get("/v1/evidence", headers=service.guru(plan.teacher_nip))
    assert no_param.status_code == 422
    unauthenticated = await service.client.get(f"/v1/evidence/{evidence_id}/download")
    assert unauthenticated.status_code == 401


async def test_bad_uploads_store_nothing(service):
    plan = await service.approved_plan()
    owner = service.guru(plan.teacher_nip)
    pending = service.new_plan(plan.teacher_nip)  # submitted, never approved
    from datetime import datetime, timezone

    await service.publish(service.submitted(pending, 1, datetime.now(timezone.utc)), pending.region)
    await service.wait_plan_status(pending.plan_id, "submitted")
    other_guru = service.guru(service.new_plan().teacher_nip)
    too_big = b"%PDF-1.4\n" + b"0" * service.settings.evidence_max_bytes

    cases = [
        ("unknown plan", dict(plan_id="rencana-tak-dikenal", data=samples.PDF, headers=owner), 409, "rencana_belum_disepakati"),
        ("plan not approved", dict(plan_id=pending.plan_id, data=samples.PDF, headers=owner), 409, "rencana_belum_disepakati"),
        ("another guru's plan", dict(plan_id=plan.plan_id, data=samples.PDF, headers=other_guru), 403, "akses_ditolak"),
        ("empty file", dict(plan_id=plan.plan_id, data=b"", headers=owner), 422, "berkas_kosong"),
        ("over the limit", dict(plan_id=plan.plan_id, data=too_big, headers=owner), 413, "berkas_terlalu_besar"),
        ("html called .pdf", dict(plan_id=plan.plan_id, data=samples.HTML, name="laporan.pdf", headers=owner), 415, "jenis_berkas_tidak_didukung"),
        ("renamed executable", dict(plan_id=plan.plan_id, data=samples.elf(), name="sertifikat.pdf", headers=owner), 415, "jenis_berkas_tidak_didukung"),
        ("plain zip", dict(plan_id=plan.plan_id, data=samples.plain_zip(), name="dok.docx", headers=owner), 415, "jenis_berkas_tidak_didukung"),
        ("zip bomb as docx", dict(plan_id=plan.plan_id, data=samples.zip_bomb_docx(), name="dok.docx", headers=owner), 422, "isi_berkas_tidak_valid"),
        ("truncated pdf", dict(plan_id=plan.plan_id, data=samples.PDF[:-20], headers=owner), 422, "isi_berkas_tidak_valid"),
        ("pdf that is also a zip", dict(plan_id=plan.plan_id, data=samples.pdf_zip_polyglot(), headers=owner), 415, "jenis_berkas_tidak_didukung"),
        ("zip whose directory lies", dict(plan_id=plan.plan_id, data=samples.lying_docx(100 * 1024 * 1024, 150_000), name="dok.docx", headers=owner), 422, "isi_berkas_tidak_valid"),
        ("unknown item", dict(plan_id=plan.plan_id, data=samples.PDF, headers=owner, item_id="bukan-butir"), 422, "butir_rencana_tidak_ditemukan"),
        ("missing plan_id", dict(plan_id=None, data=samples.PDF, headers=owner), 422, "input_tidak_valid"),
        ("missing file", dict(plan_id=plan.plan_id, data=None, headers=owner), 422, "input_tidak_valid"),
        ("no token", dict(plan_id=plan.plan_id, data=samples.PDF, headers={}), 401, "token_tidak_ada"),
    ]
    for label, kwargs, status, code in cases:
        response = await service.upload(**kwargs)
        assert response.status_code == status, (label, response.text)
        error = response.json()["error"]
        assert error["code"] == code, label
        assert error["message"] and error["message_en"], label
        assert "Traceback" not in response.text
        if code == "jenis_berkas_tidak_didukung":
            assert "terdeteksi" in error["message"]
            assert error["details"]["detected"], label
    html = await service.upload(plan.plan_id, samples.HTML, name="laporan.pdf", headers=owner)
    assert "text/html" in html.json()["error"]["details"]["detected"]
    elf = await service.upload(plan.plan_id, samples.elf(), name="sertifikat.pdf", headers=owner)
    assert "ELF" in elf.json()["error"]["details"]["detected"]
    missing = await service.upload(None, samples.PDF, headers=owner)
    assert missing.json()["error"]["details"][0]["field"] == "body.plan_id"

    # Not multipart at all.
    as_json = await service.client.post("/v1/evidence", json={"plan_id": plan.plan_id}, headers=owner)
    assert (as_json.status_code, as_json.json()["error"]["code"]) == (422, "input_tidak_valid")

    assert service.objects() == []
    assert await service.evidence_rows() == []
    assert await service.outbox_count() == 0


class CountingBody:
    """A request body produced on demand; counts how much the service actually pulled."""

    def __init__(self, head: bytes, filler_chunks: int, tail: bytes, chunk: bytes = b"0" * 65536):
        self.head, self.tail, self.chunk, self.filler_chunks = head, tail, chunk, filler_chunks
        self.pulled = 0

    async def __aiter__(self):
        for part in [self.head] + [self.chunk] * self.filler_chunks + [self.tail]:
            self.pulled += len(part)
            yield part

    @property
    def total(self) -> int:
        return len(self.head) + len(self.chunk) * self.filler_chunks + len(self.tail)


def _multipart(plan_id: str, *, file_first: bool = False) -> tuple[bytes, bytes, dict]:
    boundary = "kinerja-batas-0123456789"
    field = f'--{boundary}\r\nContent-Disposition: form-data; name="plan_id"\r\n\r\n{plan_id}\r\n'.encode()
    file_head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="video.mp4"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
    ).encode()
    head = file_head if file_first else field + file_head
    eof = "\n%%EOF\n"  # a whole PDF ends so; a truncated one is refused
    tail = f"{eof}\r\n--{boundary}--\r\n".encode()
    if file_first:
        tail = f"{eof}\r\n{field.decode()}--{boundary}--\r\n".encode()
    return head, tail, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def test_oversized_upload_is_cut_off_without_reading_the_rest(service):
    plan = await service.approved_plan()
    owner = service.guru(plan.teacher_nip)
    head, tail, headers = _multipart(plan.plan_id)
    # A declared Content-Length over the limit is refused before any byte is read.
    declared = CountingBody(head, 1024, tail)
    response = await service.client.post(
        "/v1/evidence", content=declared,
        headers={**owner, **headers, "Content-Length": str(declared.total)},
    )
    assert response.status_code == 413
    assert declared.pulled == 0

    # A plan_id sent before the file is checked before the file's bytes are read.
    head, tail, headers = _multipart("rencana-tak-dikenal")
    early = CountingBody(head, 3, tail)
    response = await service.client.post("/v1/evidence", content=early, headers={**owner, **headers})
    assert response.json()["error"]["code"] == "rencana_belum_disepakati"
    assert early.pulled < early.total

    # Field order does not matter: file first, plan_id after, still accepted.
    head, tail, headers = _multipart(plan.plan_id, file_first=True)
    ok = CountingBody(head, 2, tail)
    response = await service.client.post("/v1/evidence", content=ok, headers={**owner, **headers})
    assert response.status_code == 201, response.text
    assert response.json()["size_bytes"] == len(b"%PDF-1.4\n") + 2 * 65536 + len(b"\n%%EOF\n")
    assert len(service.objects()) == 1 and len(await service.evidence_rows()) == 1


async def test_form_fields_are_bounded(service):
    """Only the file may be large: at most 8 other parts, each at most 8 KiB of value and 8 KiB
    of part headers. Before, 1000 extra fields or 12 KB of headers on a part were read and kept
    (python-multipart itself bounds one header line to 4224 bytes and a part to 8 lines)."""
    plan = await service.approved_plan()
    owner = service.guru(plan.teacher_nip)
    boundary = "kinerja-batas-0123456789"
    headers = {**owner, "Content-Type": f"multipart/form-data; boundary={boundary}"}

    def part(name: str, value: str, extra: str = "") -> bytes:
        return f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n{extra}\r\n{value}\r\n'.encode()

    file_part = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="l.pdf"\r\n'
                 "Content-Type: application/pdf\r\n\r\n").encode() + samples.PDF + b"\r\n"
    end = f"--{boundary}--\r\n".encode()

    async def post(body: bytes) -> httpx.Response:
        return await service.client.post("/v1/evidence", content=body, headers=headers)

    many = await post(part("plan_id", plan.plan_id) + b"".join(part(f"x{i}", "1") for i in range(1000)) + file_part + end)
    assert (many.status_code, many.json()["error"]["code"]) == (413, "bidang_formulir_terlalu_banyak"), many.text
    assert many.json()["error"]["details"]["max_fields"] == 8
    padding = "".join(f"X-Isi-{i}: {'a' * 3000}\r\n" for i in range(4))  # 12 KB in four lines
    big_header = await post(part("plan_id", plan.plan_id, padding) + file_part + end)
    assert (big_header.status_code, big_header.json()["error"]["code"]) == (413, "header_formulir_terlalu_besar")
    assert big_header.json()["error"]["details"]["max_bytes"] == 8192
    long_value = await post(part("plan_id", "a" * 9000) + file_part + end)
    assert (long_value.status_code, long_value.json()["error"]["code"]) == (422, "input_tidak_valid")
    assert long_value.json()["error"]["details"][0]["field"] == "body.plan_id"
    for refused in (many, big_header, long_value):
        error = refused.json()["error"]
        assert error["message"] and error["message_en"] and "Traceback" not in refused.text
    assert service.objects() == [] and await service.evidence_rows() == []

    # Within the bounds: plan_id, item_id and six fields a client adds are fine.
    extra = b"".join(part(f"x{i}", "1") for i in range(6))
    ok = await post(part("plan_id", plan.plan_id) + part("item_id", "pk-1") + extra + file_part + end)
    assert ok.status_code == 201, ok.text
    assert len(service.objects()) == 1


async def test_a_failed_database_write_removes_the_object(service):
    plan = await service.approved_plan()
    # A real failure of the real database: the evidence table is gone.
    async with service.runtime.engine.begin() as conn:
        await conn.execute(text("DROP TABLE evidence_files"))
    response = await service.upload(plan.plan_id, samples.PDF, headers=service.guru(plan.teacher_nip))
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "kesalahan_internal"
    assert "Traceback" not in response.text
    assert service.objects() == []
    assert await service.outbox_count() == 0


async def test_readiness_reports_object_storage(service, service_factory):
    ready = await service.client.get("/health/ready")
    assert ready.status_code == 200
    # NATS is a detail of readiness, never failing it (the outbox holds events meanwhile).
    assert ready.json()["checks"] == {"database": "ok", "object_storage": "ok"}
    assert service.settings.s3_bucket in {b.name for b in service.minio.list_buckets()}


async def test_readiness_fails_when_object_storage_is_unreachable(service_factory):
    from kinerja_shared.testing.servers import free_port

    async with service_factory(wait_ready=False, s3_endpoint=f"127.0.0.1:{free_port()}") as down:
        ready = await down.client.get("/health/ready")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["database"] == "ok" and "nats" not in checks
        assert checks["object_storage"].startswith("gagal")
