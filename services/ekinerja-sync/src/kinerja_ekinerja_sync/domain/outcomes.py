"""What one attempt's answer means: done, try again (when), or park it with whom to fix it.

Responsible actors: ``bkn`` (their service failed or throttled us), ``sistem`` (our side or
the network), ``bkd`` (the civil-service records, e.g. a NIP SIASN does not know),
``operator_sekolah`` / ``operator_dinas`` (data or configuration in Kinerja), ``guru``.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

Kind = Literal["acknowledged", "retry", "parked"]

# Known rejections that retrying cannot fix: a fragment of BKN's message -> who must act.
KNOWN_REJECTIONS: list[tuple[str, str]] = [
    # The assessor's NIP or golongan as the roster holds them: the school's operator fixes them.
    ("nip penilai", "operator_sekolah"),
    ("golongan", "operator_sekolah"),
    ("nip tidak ditemukan", "bkd"),
    ("skp organisasi belum dibuat", "operator_sekolah"),
    ("unor", "operator_dinas"),
    ("koefisien", "sistem"),
    ("periodikid", "sistem"),
]


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    outcome: str  # recorded on the attempt: acknowledged, already_stored, rate_limited, ...
    http_status: int | None
    message: str
    responsible_actor: str | None = None
    retry_after_s: float | None = None
    # True when BKN may have stored the record although we did not hear so.
    ambiguous: bool = False
    ekinerja_record_id: str | None = None


def classify_response(
    status: int, message: str, retry_after: str | None = None, record_id: str | None = None
) -> Outcome:
    if 200 <= status < 300:
        if record_id:
            return Outcome("acknowledged", "acknowledged", status, message or "Data berhasil disimpan",
                           ekinerja_record_id=record_id)
        # 2xx without an id: we cannot show where it went; treat like an ambiguous answer.
        return Outcome("retry", "no_record_id", status, message or "Jawaban tanpa id rekaman",
                       "bkn", ambiguous=True)
    if status == 429:
        return Outcome("retry", "rate_limited", status, message or "Terlalu banyak permintaan",
                       "bkn", retry_after_s=parse_retry_after(retry_after))
    if status >= 500 or status == 408:
        return Outcome("retry", "server_error", status, message or f"HTTP {status}", "bkn", ambiguous=True)
    if status in (401, 403):
        # Still refused after fresh tokens: the credentials configured by the dinas.
        return Outcome("retry", "auth_failed", status, message or "Token ditolak", "operator_dinas")
    lowered = (message or "").lower()
    for fragment, actor in KNOWN_REJECTIONS:
        if fragment in lowered:
            return Outcome("parked", "rejected", status, message, actor)
    return Outcome("parked", "rejected", status, message or f"Ditolak (HTTP {status})", "operator_dinas")


def classify_unreachable(kind: Literal["timeout", "connection"], detail: str) -> Outcome:
    if kind == "timeout":
        return Outcome("retry", "timeout", None, f"Waktu habis menunggu e-Kinerja: {detail}", "bkn", ambiguous=True)
    return Outcome("retry", "connection_error", None, f"Koneksi ke e-Kinerja gagal: {detail}", "sistem", ambiguous=True)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter for the wait after ``attempt`` (1-based): somewhere in
    the upper half of min(max, base * 2^(attempt-1)), so replicas do not retry in step."""
    ceiling = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


def retry_delay_s(outcome: Outcome, attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    if outcome.retry_after_s is not None:
        return outcome.retry_after_s  # BKN said when: honour it
    return backoff_s(attempt, base_s, max_s, rng)
