"""Object storage through the minio SDK against any S3-compatible endpoint (MinIO, SeaweedFS,
Garage, Ceph RGW, AWS S3, moto). Nothing here relies on MinIO-only features.

The SDK is synchronous: every call runs in a worker thread so the event loop stays free.
Uploads stream: ``put_object`` with ``length=-1`` reads one part at a time from a
:class:`HashingReader`, so memory holds one part (``part_size``) whatever the file size.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import timedelta
from typing import BinaryIO
from urllib.parse import quote

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error

from kinerja_shared.logging import get_logger

log = get_logger(__name__)


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
    ) -> None:
        self.bucket = bucket
        self.part_size = part_size
        # The SDK's default waits 5 minutes to connect: too long for readiness and for users.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        self.client = Minio(
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
        )

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
        return await asyncio.to_thread(self._ensure_bucket)

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
        """Readiness: the endpoint answers and the bucket exists."""
        exists = await asyncio.wait_for(asyncio.to_thread(self.client.bucket_exists, self.bucket), 5)
        if not exists:
            raise LookupError(f"bucket {self.bucket} belum ada")

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
        await asyncio.to_thread(self._put, key, reader, content_type)

    async def remove(self, key: str) -> None:
        await asyncio.to_thread(self.client.remove_object, self.bucket, key)

    async def presigned_get(
        self, key: str, *, ttl_s: int, file_name: str, content_type: str
    ) -> str:
        disposition = f"attachment; filename*=UTF-8''{quote(file_name, safe='')}"
        return await asyncio.to_thread(
            self.client.presigned_get_object,
            self.bucket,
            key,
            expires=timedelta(seconds=ttl_s),
            response_headers={
                "response-content-type": content_type,
                "response-content-disposition": disposition,
            },
        )
