"""The evidence service's settings (environment variables prefixed ``KINERJA_``)."""

from __future__ import annotations

from kinerja_shared.settings import ServiceSettings

MiB = 1024 * 1024


class Settings(ServiceSettings):
    service_name: str = "evidence"
    http_port: int = 8102
    # Any S3-compatible endpoint, host:port as the minio SDK wants it.
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_secure: bool = False
    # Given explicitly so the SDK never asks the server for the bucket's location.
    s3_region: str = "us-east-1"
    s3_bucket: str = "kinerja-evidence"
    # One part is held in memory per upload in progress; 5 MiB is the S3 minimum.
    s3_part_size_bytes: int = 5 * MiB
    # HTTP connections to the store, and threads that drive them (the SDK is synchronous).
    s3_max_connections: int = 16
    # The single-request upload's cap (the type's policy limit applies too).
    evidence_max_bytes: int = 20 * MiB
    evidence_presign_ttl_s: int = 300
    # Per-type size limits overriding the period policy's, e.g. {"video/mp4": 1073741824}.
    evidence_type_max_bytes: dict[str, int] = {}
    # Resumable uploads: the part size clients must use (S3's minimum is 5 MiB), how long an
    # untouched session lives, how often the sweeper looks, how many part buffers (each one
    # part in memory) may be held at once per process.
    upload_part_size_bytes: int = 8 * MiB
    upload_expiry_s: int = 24 * 3600
    upload_sweep_interval_s: float = 300.0
    # An object written with no evidence row yet (a single-request upload on its way, or what a
    # killed process left) is removed by that sweep once its pending record is this old: longer
    # than the slowest legitimate single-request upload on a bad connection.
    pending_object_max_age_s: float = 3600.0
    upload_parts_in_flight: int = 8
    # A presigned PUT URL for direct-to-storage uploads lives this long.
    upload_presign_put_ttl_s: int = 900
    # Open resumable upload sessions (parts or presigned) one teacher may hold at once: each
    # holds an S3 multipart upload or a staging object until it completes, is aborted or
    # expires. Beyond it: 409 unggahan_terbuka_terlalu_banyak.
    max_open_uploads_per_user: int = 20
