"""Settings (env prefix ``KINERJA_``): the shared ones with this service's defaults."""

from kinerja_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "assessment"
    http_port: int = 8103
    database_url: str = "sqlite+aiosqlite:///./data/assessment.db"
