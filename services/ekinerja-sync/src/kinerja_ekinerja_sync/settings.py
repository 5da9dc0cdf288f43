"""Settings (env prefix ``KINERJA_``): the shared ones plus ``KINERJA_EKINERJA_*``."""

from __future__ import annotations

from pydantic import Field

from kinerja_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "ekinerja-sync"
    http_port: int = 8104
    database_url: str = "sqlite+aiosqlite:///./data/ekinerja-sync.db"

    # Where e-Kinerja (or its simulator) answers, and the two sets of credentials.
    ekinerja_base_url: str = "http://127.0.0.1:8199"
    ekinerja_client_id: str = "kinerja"
    ekinerja_client_secret: str = "kinerja-sim-secret"
    ekinerja_username: str = "kinerja"
    ekinerja_password: str = "kinerja-sim-password"
    ekinerja_timeout_s: float = Field(10.0, gt=0)
    # After this many attempts a record is parked (responsible actor "sistem").
    ekinerja_max_attempts: int = Field(10, ge=1)
    ekinerja_backoff_base_s: float = Field(0.5, ge=0)
    ekinerja_backoff_max_s: float = Field(60.0, ge=0)
    # How often the worker looks for due records when it found none.
    ekinerja_poll_interval_s: float = Field(0.5, gt=0)
    # Final results are pulled in batches (up to consumer_batch_size, one transaction each);
    # how long one fetch waits for the first message.
    ekinerja_consumer_fetch_timeout_s: float = Field(0.5, gt=0)
    # Records claimed per round, and how many are sent at once.
    ekinerja_batch_size: int = Field(20, ge=1)
    ekinerja_concurrency: int = Field(4, ge=1)
    # Circuit breaker toward BKN: open after this many consecutive 5xx/timeouts/connection
    # failures, send nothing for open_s, then let one probe through (half-open).
    ekinerja_breaker_failures: int = Field(5, ge=1)
    ekinerja_breaker_open_s: float = Field(30.0, gt=0)
    # Rate limit toward BKN (calls per second, aiolimiter, bursts up to the burst); 0 turns it off.
    ekinerja_rate_limit_per_s: float = Field(50.0, ge=0)
    ekinerja_rate_limit_burst: int = Field(20, ge=1)
    # Scheduled reconciliation: "PERIOD@REGION" pairs (e.g. "2026-1-6@020500,2026-1-6@030000"),
    # run every interval (0 = off); with requeue the missing ones are re-sent.
    ekinerja_reconcile_targets: str = ""
    ekinerja_reconcile_interval_s: float = Field(0.0, ge=0)
    ekinerja_reconcile_requeue_missing: bool = False

    # Agreed plans and periodic reviews parked because planning's data was missing (the teacher
    # not in the roster, the period not received) are mapped again this often, in case the data
    # arrived at the same moment (0 = only when a roster or period event arrives).
    ekinerja_waiting_recheck_s: float = Field(60.0, ge=0)

    def reconcile_targets(self) -> list[tuple[str, str]]:
        pairs = [t.strip().split("@", 1) for t in self.ekinerja_reconcile_targets.split(",") if t.strip()]
        return [(p[0], p[1]) for p in pairs if len(p) == 2]
