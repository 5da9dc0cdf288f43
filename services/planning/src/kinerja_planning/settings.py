"""The planning service's settings (environment variables prefixed ``KINERJA_``)."""

from __future__ import annotations

from kinerja_shared.settings import ServiceSettings

MiB = 1024 * 1024


class Settings(ServiceSettings):
    service_name: str = "planning"
    http_port: int = 8101
    # A district's roster export is a few MB at most; anything larger is refused with 413.
    roster_max_bytes: int = 20 * MiB
    # How often the clock is read to open periods, announce stages and close periods. Each step
    # happens at most once whatever the number of replicas (row locks). 0 turns the background
    # clock off: tests call periods.tick themselves, so no tick races their requests.
    period_tick_s: float = 30.0
