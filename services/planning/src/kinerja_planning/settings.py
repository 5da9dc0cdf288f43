"""The planning service's settings (environment variables prefixed ``KINERJA_``)."""

from __future__ import annotations

from pydantic import field_validator

from kinerja_shared.identifiers import region_problem
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
    # Periods have no school or district: they are this deployment's calendar, placed at this
    # region (a province xx0000, or a district). The dinas and operator_dinas whose region claim
    # covers it create, move, open and close periods; unset, only a sistem token does.
    period_region: str | None = None

    @field_validator("period_region")
    @classmethod
    def _a_region_code(cls, value: str | None) -> str | None:
        if value and (problem := region_problem(value)):
            raise ValueError(f"KINERJA_PERIOD_REGION: {problem}")
        return value or None
