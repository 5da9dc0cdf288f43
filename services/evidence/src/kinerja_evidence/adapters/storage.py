"""Object storage through the minio SDK against any S3-compatible endpoint (MinIO, SeaweedFS,
Garage, Ceph RGW, AWS S3, moto). Nothing here relies on MinIO-only features.

The SDK is synchronous: every call runs in a worker thread so the event loop stays free, in
the adapter's own pool (as many threads as HTTP connections), so that storage calls neither
wait behind nor hold up other work in asyncio's small default pool.
A store that does not answer (refused, timed out, 5xx) raises
:class:`~kinerja_evidence.domain.model.StorageUnavailable` (HTTP 503 with Retry-After), logged
once per outage by :class:`StorageHealth`; a store that came back without the bucket gets it
back on the first ``NoSuchBucket`` (the call is then tried once more).
Uploads stream: ``put_object`` with ``length=-1`` reads one part at a time from a
:class:`HashingReader`, so memory holds one part (``part_size``) whatever the file size.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO
from urllib.parse import quote

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.datatypes import Part
from minio.error import InvalidResponseError, S3Error, ServerError

from kinerja_shared.logging import get_logger

from kinerja_evidence.domain.model import StorageUnavailable

log = get_logger(__name__)


# S3 error codes that say "the store is struggling", not "your request is wrong".
_TRANSIENT_S3_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}


def is_storage_fault(exc: BaseException) -> bool:
    """The store did not answer usefully: unreachable, timed out, or a server error (after
    urllib3's own retries). Not a refusal of this request (NoSuchKey, AccessDenied, ...)."""
    if isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, ServerError)):
        return True
    if isinstance(exc, InvalidResponseError):  # e.g. a proxy's HTML 502 page
        return getattr(exc, "_code", 0) >= 500
    if isinstance(exc, S3Error):
        status = getattr(exc.response, "status", 0) or 0
        # 501: the store does not implement the call; that is not going to pass by waiting.
        return (status >= 500 and status != 501) or exc.code in _TRANSIENT_S3_CODES
    return False


class StorageHealth:
    """Per process: is the store answering? One warning when an outage begins and one info
    line when it ends, instead of a traceback per request. Calls run in worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.failures = 0

    @property
    def available(self) -> bool:
        return self.down_since is None

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            first = self.down_since is None
            if first:
                self.down_since = time.monotonic()
        if first:
            log.warning("storage.unavailable", error=f"{type(exc).__name__}: {exc}"[:300])

    def succeeded(self) -> None:
        if self.down_since is None:  # the common case: no lock
            return
        with self._lock:
            since, failures = self.down_since, self.failures
            self.down_since, self.failures = None, 0
        if since is not None:
            log.info("storage.available_again", down_for_s=round(time.monotonic() - since, 1),
                     failed_calls=failures)

    def call(self, fn, /, *args, **kwargs):
        """Run a synchronous SDK call, noting the outcome; a fault becomes StorageUnavailable."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            if is_storage_fault(exc):
                self.failed(exc)
                raise StorageUnavailable() from exc
            if isinstance(exc, S3Error):  # an answer, even a refusal: the store is there
                self.succeeded()
            raise
        self.succeeded()
        return result


class SizeLimitExceeded(Exception):
    """The stream went past the limit; the upload in progress is aborted."""


class HashingReader:
    """Wraps a binary stream: computes SHA-256 and counts bytes while the SDK reads, and stops
    as soon as the limit is passed (the SDK then aborts its multipart upload)."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._source = source
        self._limit = limit
        self._hash = hashlib.sha256()
        self.size = 0
        try:
            self._start: int | None = source.tell() if source.seekable() else None
        except (AttributeError, OSError):
            self._start = None

    def rewind(self) -> bool:
        """Back to the first byte (to send the stream again); False when it cannot seek."""
        if self._start is None:
            return False
        self._source.seek(self._start)
        self._hash, self.size = hashlib.sha256(), 0
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self.size += len(chunk)
        if self.size > self._limit:
            raise SizeLimitExceeded(f"more than {self._limit} bytes")
        self._hash.update(chunk)
        return chunk

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str


class RangedObject(io.RawIOBase):
    """Synchronous (run it in a worker thread): used by content checks on stored objects."""

    def __init__(self, storage: ObjectStorage, key: str, size: int) -> None:
        self._storage, self._key, self._size, self._pos = storage, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        data = self._storage.health.call(self._read, self._pos, n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _read(self, offset: int, n: int) -> bytes:
        response = self._storage.client.get_object(self._storage.bucket, self._key, offset=offset, length=n)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()


KNOWN_PAYLOAD_SHA256 = "x-amz-content-sha256"


class _Minio(Minio):
    """The SDK signs every plain-HTTP request with the SHA-256 of its body, hashing it again.
    For a part whose SHA-256 the service has just verified, that same value is the payload
    hash: pass it in and the SDK signs with it instead of hashing the part a second time
    (the store still checks it against the bytes). Anything else: the SDK's own behaviour."""

    def _build_headers(self, host, headers=None, body=None, creds=None):  # type: ignore[override]
        known = (headers or {}).pop(KNOWN_PAYLOAD_SHA256, None)
        if known is None or body is None or not creds or self._base_url.is_https:
            return super()._build_headers(host, headers, body, creds)
        built, date = super()._build_headers(host, headers, None, creds)
        built["Content-Length"] = str(len(body))
        built[KNOWN_PAYLOAD_SHA256] = known
        return built, date


class ObjectStorage:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        part_size: int = 5 * 1024 * 1024,
        max_connections: int = 16,
    ) -> None:
        self.bucket = bucket
        self.part_size = part_size
        self.health = StorageHealth()
        self._bucket_lock = asyncio.Lock()
        self._bucket_generation = 0  # bumped each time the bucket is made again
        self._executor = ThreadPoolExecutor(max_connections, thread_name_prefix="s3")
        # The SDK's default waits 5 minutes to connect: too long for readiness and for users.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            maxsize=max_connections,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        self.client = _Minio(
            endpoint,
            access_key=access_key or None,
            secret_key=secret_key or None,
            secure=secure,
            region=region,
            http_client=http,
        )

    @classmethod
    def from_settings(cls, settings) -> ObjectStorage:
        return cls(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key,
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
            part_size=settings.s3_part_size_bytes,
            max_connections=settings.s3_max_connections,
        )

    async def _call(self, fn, /, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self.health.call, fn, *args, **kwargs)
        )

    async def _run(self, fn, /, *args, _rewind=None, **kwargs):
        """One SDK call in the pool. A store that lost the bucket (it came back empty) gets it
        back and the call is tried once more; ``_rewind()`` first resets a consumed stream."""
        generation = self._bucket_generation
        try:
            return await self._call(fn, *args, **kwargs)
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise
            if _rewind is not None and not _rewind():
                raise
            await self._recreate_bucket(generation)
        return await self._call(fn, *args, **kwargs)

    async def _recreate_bucket(self, seen_generation: int) -> None:
        # Many requests notice at once: one of them makes the bucket, the others wait for it.
        async with self._bucket_lock:
            if self._bucket_generation != seen_generation:
                return
            created = await self._call(self._ensure_bucket)
            self._bucket_generation += 1
        log.warning("storage.bucket_recreated", bucket=self.bucket, created=created)

    # ------------------------------------------------------------------ bucket
    def _ensure_bucket(self) -> bool:
        if self.client.bucket_exists(self.bucket):
            return False
        try:
            self.client.make_bucket(self.bucket)
        except S3Error as exc:  # another replica made it first
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            return False
        return True

    async def ensure_bucket(self) -> bool:
        """Create the (private) bucket if missing; True when it was created now."""
        return await self._call(self._ensure_bucket)

    async def keep_trying_to_ensure_bucket(self) -> None:
        """Background task at start-up: the store may come up after us."""
        delay = 0.5
        while True:
            try:
                created = await self.ensure_bucket()
                log.info("storage.bucket_ready", bucket=self.bucket, created=created)
                return
            except Exception as exc:
                log.warning("storage.bucket_unavailable", bucket=self.bucket, error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def check(self) -> None:
        """Readiness: the endpoint answers and the bucket exists. A store that came back empty
        gets its bucket here (a presigned PUT goes straight to the store, never through a
        call of ours that would notice the bucket missing)."""
        created = await asyncio.wait_for(self._call(self._ensure_bucket), 5)
        if created:
            log.warning("storage.bucket_recreated", bucket=self.bucket, created=True, by="readiness")

    # ------------------------------------------------------------------ objects
    def _put(self, key: str, reader: HashingReader, content_type: str) -> None:
        self.client.put_object(
            self.bucket,
            key,
            reader,
            length=-1,
            part_size=self.part_size,
            content_type=content_type,
            # One part in flight: parallel parts would multiply the memory held per upload.
            num_parallel_uploads=1,
        )

    async def put_stream(self, key: str, reader: HashingReader, content_type: str) -> None:
        await self._run(self._put, key, reader, content_type, _rewind=reader.rewind)

    async def remove(self, key: str) -> None:
        await self._run(self.client.remove_object, self.bucket, key)

    # ------------------------------------------------------------------ multipart
    # The SDK's own multipart calls (the ones put_object uses), driven one part per request
    # so that an upload survives a dropped connection: plain S3 API, any compatible store.
    async def start_multipart(self, key: str, content_type: str) -> str:
        return await self._run(
            self.client._create_multipart_upload, self.bucket, key, {"Content-Type": content_type}
        )

    async def put_part(
        self, key: str, upload_id: str, part_number: int, data: bytes | bytearray, sha256: str | None = None
    ) -> str:
        """``sha256``: the part's verified SHA-256 (hex), reused to sign the request."""
        headers = {KNOWN_PAYLOAD_SHA256: sha256} if sha256 else None
        return await self._run(
            self.client._upload_part, self.bucket, key, data, headers, upload_id, part_number
        )

    async def complete_multipart(self, key: str, upload_id: str, etags: list[tuple[int, str]], *, size: int) -> None:
        """Idempotent: when S3 no longer knows the upload because an earlier attempt completed
        it and the service died before recording the evidence, the object of the expected size
        is that completion, and the client's retry goes on from there. (AWS S3 and moto answer a
        repeated completion with success; MinIO answers NoSuchUpload.)"""
        parts = [Part(number, etag) for number, etag in etags]
        try:
            await self._run(
                self.client._complete_multipart_upload, self.bucket, key, upload_id, parts
            )
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise
            info = await self.stat(key)
            if info is None or info.size != size:
                raise

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Idempotent: an upload the store no longer knows is already gone."""
        try:
            await self._run(self.client._abort_multipart_upload, self.bucket, key, upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise

    async def multipart_uploads(self, prefix: str = "") -> list[tuple[str, str]]:
        """(key, upload id) of every multipart upload in progress (for tests and operators)."""
        def run():
            result = self.client._list_multipart_uploads(self.bucket, prefix=prefix or None)
            return [(u.object_name, u.upload_id) for u in result.uploads]

        return await self._run(run)

    async def list_keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix`` (listed a thousand per request by the SDK)."""
        def run():
            return [o.object_name for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)]

        return await self._run(run)

    # ------------------------------------------------------------------ presigned PUT
    # Signing is local (the region is configured, so the SDK asks the store nothing): not
    # through StorageHealth, where a signed URL would pass for the store answering again.
    async def _sign(self, fn, /, *args, **kwargs) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def presigned_put(self, key: str, *, ttl_s: int) -> str:
        return await self._sign(
            self.client.presigned_put_object, self.bucket, key, timedelta(seconds=ttl_s)
        )

    async def stat(self, key: str) -> ObjectInfo | None:
        def run():
            try:
                info = self.client.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                    return None
                raise
            return ObjectInfo(key, int(info.size or 0), info.content_type or "")

        return await self._run(run)

    async def copy(self, source_key: str, target_key: str) -> None:
        await self._run(
            self.client.copy_object, self.bucket, target_key, CopySource(self.bucket, source_key)
        )

    def ranged_reader(self, key: str, size: int, buffer_size: int = 1024 * 1024) -> io.BufferedReader:
        """A seekable read-only file over a stored object: each read is a ranged GET, so
        checking the head, the tail or a PDF's trailer never downloads the whole file. Reads
        go through a 1 MiB buffer: inflating an Office file's entries in file order (the ZIP
        check) takes one GET per MiB, not one per small read."""
        return io.BufferedReader(RangedObject(self, key, size), buffer_size=buffer_size)

    async def sha256_of(self, key: str, chunk: int = 1024 * 1024) -> tuple[str, int]:
        """Stream a stored object once (memory: one chunk) for its SHA-256 and size."""
        def run():
            digest, size = hashlib.sha256(), 0
            response = self.client.get_object(self.bucket, key)
            try:
                for block in response.stream(chunk):
                    digest.update(block)
                    size += len(block)
            finally:
                response.close()
                response.release_conn()
            return digest.hexdigest(), size

        return await self._run(run)

    async def presigned_get(
        self, key: str, *, ttl_s: int, file_name: str, content_type: str
    ) -> str:
        disposition = f"attachment; filename*=UTF-8''{quote(file_name, safe='')}"
        return await self._sign(
            self.client.presigned_get_object,
            self.bucket,
            key,
            expires=timedelta(seconds=ttl_s),
            response_headers={
                "response-content-type": content_type,
                "response-content-disposition": disposition,
            },
        )
