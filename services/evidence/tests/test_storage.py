"""The object-storage adapter against the real S3 endpoint: multipart streaming with
length=-1, the size guard that aborts a multipart upload, and memory that does not grow with
the file size."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
import uuid

import boto3
import pytest

from kinerja_evidence.adapters.storage import HashingReader, ObjectStorage, SizeLimitExceeded

MiB = 1024 * 1024


class Pattern(io.RawIOBase):
    """A stream of ``size`` bytes generated on the fly (nothing held in memory)."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.position = 0
        self.block = bytes(range(256)) * 256  # 64 KiB

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.remaining if n < 0 else min(n, self.remaining)
        start = self.position % len(self.block)  # the same bytes whatever the read sizes
        out = (self.block * (n // len(self.block) + 2))[start : start + n]
        self.remaining -= n
        self.position += n
        return out


def pattern_sha(size: int) -> str:
    digest, source = hashlib.sha256(), Pattern(size)
    while chunk := source.read(MiB):
        digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
async def storage(s3_endpoint):
    store = ObjectStorage(
        s3_endpoint.endpoint, s3_endpoint.access_key, s3_endpoint.secret_key,
        bucket=f"kinerja-storage-{uuid.uuid4().hex[:10]}", part_size=5 * MiB,
    )
    assert await store.ensure_bucket() is True
    assert await store.ensure_bucket() is False  # idempotent
    store.boto = boto3.client(
        "s3", endpoint_url=s3_endpoint.url, aws_access_key_id=s3_endpoint.access_key,
        aws_secret_access_key=s3_endpoint.secret_key, region_name="us-east-1",
    )
    return store


def listing(store) -> list[str]:
    return [o.object_name for o in store.client.list_objects(store.bucket, recursive=True)]


async def test_multipart_stream_hashes_and_counts_while_uploading(storage):
    size = 12 * MiB + 123  # three parts of 5 MiB
    reader = HashingReader(Pattern(size), limit=20 * MiB)
    await storage.put_stream("evidence/a", reader, "video/mp4")
    assert reader.size == size
    assert reader.sha256 == pattern_sha(size)
    stat = storage.client.stat_object(storage.bucket, "evidence/a")
    assert stat.size == size and stat.content_type == "video/mp4"
    assert "-" in stat.etag  # a multipart ETag: it really went up in parts


async def test_going_over_the_limit_aborts_the_multipart_upload(storage):
    reader = HashingReader(Pattern(7 * MiB), limit=6 * MiB)
    with pytest.raises(SizeLimitExceeded):
        await storage.put_stream("evidence/too-big", reader, "application/pdf")
    assert reader.size <= 6 * MiB + 5 * MiB + 1
    assert listing(storage) == []
    uploads = storage.boto.list_multipart_uploads(Bucket=storage.bucket)
    assert uploads.get("Uploads", []) == []


async def test_memory_does_not_grow_with_file_size(storage):
    peaks = {}
    for size in (12 * MiB, 48 * MiB):
        tracemalloc.start()
        try:
            await storage.put_stream(f"evidence/{size}", HashingReader(Pattern(size), 64 * MiB), "video/mp4")
            peaks[size] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # About one part (plus the SDK's copies of it) whatever the size: 4x the data, same peak.
    assert peaks[48 * MiB] < 24 * MiB
    assert peaks[48 * MiB] < peaks[12 * MiB] * 1.5


async def test_presigned_url_and_removal(storage):
    import httpx

    data = b"%PDF-1.4\nisi\n"
    await storage.put_stream("evidence/b", HashingReader(io.BytesIO(data), MiB), "application/pdf")
    url = await storage.presigned_get("evidence/b", ttl_s=60, file_name="Lap oran ä.pdf", content_type="application/pdf")
    assert "X-Amz-Expires=60" in url
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        assert response.content == data
        assert "attachment" in response.headers.get("content-disposition", "")
    await storage.remove("evidence/b")
    assert listing(storage) == []


async def test_a_verified_part_hash_signs_the_request_without_hashing_again(storage):
    from minio.credentials import Credentials

    from kinerja_evidence.adapters.storage import KNOWN_PAYLOAD_SHA256

    body = bytearray(b"isi bagian" * 1000)
    creds = Credentials("kinerja", "kinerja-secret")
    known = hashlib.sha256(body).hexdigest()
    headers, _ = storage.client._build_headers("s3", {KNOWN_PAYLOAD_SHA256: known}, body, creds)
    assert headers[KNOWN_PAYLOAD_SHA256] == known and headers["Content-Length"] == str(len(body))
    plain, _ = storage.client._build_headers("s3", {}, bytes(body), creds)
    assert plain[KNOWN_PAYLOAD_SHA256] == known  # what the SDK would have computed itself
    # A real multipart part signed that way is accepted and completes to the same bytes.
    key = f"bagian-{uuid.uuid4().hex}"
    upload_id = await storage.start_multipart(key, "application/pdf")
    etag = await storage.put_part(key, upload_id, 1, body, sha256=known)
    await storage.complete_multipart(key, upload_id, [(1, etag)], size=len(body))
    assert (await storage.sha256_of(key)) == (known, len(body))
