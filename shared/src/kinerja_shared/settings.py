"""Settings from environment variables prefixed ``KINERJA_`` (pydantic-settings).

Each service subclasses :class:`ServiceSettings` and adds its own fields; the prefix
stays the same so an operator reads one convention everywhere.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KINERJA_", extra="ignore")

    service_name: str = "kinerja"
    # sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db
    database_url: str = "sqlite+aiosqlite:///./data/kinerja.db"
    # One server, or a cluster as a comma-separated list: nats://a:4222,nats://b:4222
    nats_url: str = "nats://127.0.0.1:4222"
    # The NATS user (default: the service's own, named as the service; the CLIs: operator) and
    # its password. Unset, the published development password is used, which production refuses.
    # docs/operations.md, "NATS users and permissions".
    nats_user: str | None = None
    nats_password: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # "production" refuses development shortcuts at start (a shared token secret, no issuer,
    # the file clock).
    environment: str = "development"
    # /docs (Swagger UI) and /openapi.json; unset: on, except when environment is "production".
    docs_enabled: bool | None = None
    # Bearer token Prometheus sends for /metrics. Unset: /metrics is open in development and
    # refused (403) in production.
    metrics_token: str | None = None
    # Sign-in (kinerja_shared.auth): access tokens from an OpenID Connect issuer, verified with
    # the public keys of its JWKS. `iss` must equal this URL exactly (Keycloak:
    # https://<host>/realms/<realm>). Required in production.
    oidc_issuer: str | None = None
    # The `aud` every token must carry (Keycloak: an audience mapper on the client).
    oidc_audience: str = "kinerja"
    # Default: the jwks_uri of <issuer>/.well-known/openid-configuration (fetched on first use).
    oidc_jwks_url: str | None = None
    # The JWKS is kept this long; a token with an unknown `kid` (a rotated key) refetches it
    # at once, at most once per cooldown.
    oidc_jwks_cache_s: float = 300.0
    oidc_jwks_refetch_cooldown_s: float = 10.0
    # Tokens whose exp - iat is longer than this are refused (token_masa_berlaku_terlalu_panjang).
    token_max_lifetime_s: float = 43200.0
    # Clock skew allowed between the issuer and us for exp / iat / nbf.
    token_leeway_s: float = 30.0
    # Development only, and only without an issuer: HS256 tokens with a shared secret (unset: a
    # published development secret). Any value here stops a production start.
    jwt_secret: str | None = None
    # Development and tests only: a file holding the current time (kinerja_shared.clock.FileClock).
    clock_file: str | None = None
    log_json: bool = False
    log_level: str = "INFO"
    # JetStream stream replicas: 1 in development, 3 in production.
    stream_replicas: int = 1
    # How long streams keep events: long enough for a downstream system to replay a year.
    stream_max_age_days: int = 400
    # Server-side de-duplication window for Nats-Msg-Id.
    stream_duplicate_window_s: int = 7200
    # Request bodies larger than this are answered 413 badan_permintaan_terlalu_besar, except on
    # routes that read their own body within their own limit (uploads, the roster import).
    http_max_body_bytes: int = 1024 * 1024
    outbox_poll_interval_s: float = 0.5
    outbox_batch_size: int = 200
    # Published outbox rows are kept this long, then purged by the relay (at most once an hour):
    # the window `kinerja-outbox replay` can republish after a NATS host loses its store.
    # 0 keeps them forever.
    outbox_retention_days: float = 7.0
    # An event whose serialized envelope is larger is refused when the command is made (422
    # data_terlalu_besar), never written to the outbox: NATS refuses messages over its
    # max_payload (1 MiB by default), headers included, so this keeps headroom below it.
    event_max_bytes: int = 900_000
    # A row that fails to publish this many times while NATS is connected is parked (set aside
    # with its reason; `kinerja-outbox parked` / `unpark`) so the rows after it go out. A row
    # NATS can never take (over its max_payload, refused as a bad request) is parked at once.
    outbox_max_attempts: int = 30
    # ...and, for failures a JetStream election also gives (no response from the stream, a PubAck
    # timeout), only once it has been failing this long: an election after a node loss takes
    # seconds, a subject no stream will ever take fails for good.
    outbox_park_after_s: float = 300.0
    # After this many deliveries a failing message goes to the dead-letter subject.
    consumer_max_deliveries: int = 8
    consumer_backoff_base_s: float = 0.5
    consumer_backoff_max_s: float = 30.0
    consumer_ack_wait_s: float = 30.0
    consumer_batch_size: int = 32
    # Idempotency-Key answers are kept this long (the IETF draft asks for at least 24 hours).
    idempotency_retention_h: float = 24.0
    # An Idempotency-Key claim's lease, renewed every third of it while the request runs: a slow
    # live request keeps its key, a crashed one's (a killed replica) may be taken over after this.
    idempotency_lease_s: float = 30.0
    idempotency_purge_interval_s: float = 3600.0
