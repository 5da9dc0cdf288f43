"""Settings of the e-Kinerja SIMULATOR (env prefix ``KINERJA_SIM_``)."""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KINERJA_SIM_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8199
    client_id: str = "kinerja"
    client_secret: str = "kinerja-sim-secret"
    username: str = "kinerja"
    password: str = "kinerja-sim-password"
    token_ttl_s: int = 3600
    # Faults (changeable at runtime through PUT /simulator/faults).
    rate_5xx: float = 0.0
    rate_429: float = 0.0
    retry_after_s: int = 1
    slow_ms: int = 0
    rate_5xx_after_save: float = 0.0
    rate_timeout: float = 0.0
    timeout_hang_s: float = 30.0
    rate_drop_after_save: float = 0.0
    # Comma-separated NIPs that SIASN "does not know" (as the teacher or as the assessor).
    unknown_nips: str = ""
    # "|"-separated unit names (penilaiUnorNama) not in SIASN's reference list.
    unknown_units: str = ""
    # Refuse an ASN assessor without a golongan.
    require_golongan: bool = False
    # Seed of the fault dice, so a run with rates can be replayed.
    seed: int | None = None

    @field_validator("rate_5xx", "rate_429", "rate_5xx_after_save", "rate_timeout", "rate_drop_after_save")
    @classmethod
    def _rate(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        return value

    def unknown_unit_list(self) -> list[str]:
        return [u.strip() for u in self.unknown_units.split("|") if u.strip()]

    def unknown_nip_set(self) -> set[str]:
        return {n.strip() for n in self.unknown_nips.split(",") if n.strip()}
