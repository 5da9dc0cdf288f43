"""Test support: the planning service running in-process against real NATS JetStream and a real
database (SQLite, then PostgreSQL). Every test gets a fresh database; the NATS server is
shared by the session, so tests use fresh NIPs/NPSNs and pick their own events by id."""

from __future__ import annotations

import json
import random
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import nats
from sqlalchemy import func
from sqlmodel import select

from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.messaging.streams import ensure_streams
from kinerja_shared.testing.http import bearer, running_app

from kinerja_planning.adapters.tables import Period, Person, PlanRow, RosterImport, School
from kinerja_planning.bootstrap import build
from kinerja_planning.settings import Settings
from kinerja_shared.testing.wait import eventually as wait_for

HEADER = "npsn,school_name,region_code,nip,name,role,jabatan,jenjang,golongan,asn_status,assessor_nip"


def new_nip(year: int | None = None) -> str:
    """A NIP whose parts are possible: birth date, CPNS start, sex digit, sequence."""
    year = year or random.randint(1965, 1995)
    return (
        f"{year}{random.randint(1, 12):02d}{random.randint(1, 28):02d}"
        f"{year + 25}{random.randint(1, 12):02d}{random.choice('12')}{random.randint(0, 999):03d}"
    )


def new_npsn() -> str:
    return f"2{random.randint(0, 9999999):07d}"


def new_region() -> str:
    return f"{random.randint(11, 94):02d}{random.randint(1, 9999):04d}"


@dataclass
class SampleSchool:
    """A school with its kepala sekolah, its guru and the pengawas who assesses the KS."""

    npsn: str = field(default_factory=new_npsn)
    region: str = field(default_factory=new_region)
    name: str = "SD Negeri Uji"
    ks_nip: str = field(default_factory=lambda: new_nip(1972))
    pengawas_nip: str = field(default_factory=lambda: new_nip(1968))
    guru_nips: list[str] = field(default_factory=lambda: [new_nip(1985), new_nip(1990)])

    def pengawas_line(self) -> str:
        return f",,{self.region},{self.pengawas_nip},Drs. Pengawas,pengawas,Pengawas Sekolah,Ahli Madya,IV/b,PNS,"

    def ks_line(self) -> str:
        return (
            f"{self.npsn},{self.name},{self.region},{self.ks_nip},\"Kepala, S.Pd.\",kepala_sekolah,"
            f"Kepala Sekolah,Ahli Madya,IV/a,PNS,{self.pengawas_nip}"
        )

    def guru_line(self, i: int, name: str | None = None) -> str:
        return (
            f"{self.npsn},{self.name},{self.region},{self.guru_nips[i]},\"{name or f'Guru {i}'}\",guru,"
            f"Guru Kelas,Ahli Pertama,III/a,PNS,{self.ks_nip}"
        )

    def csv(self) -> str:
        lines = [HEADER, self.pengawas_line(), self.ks_line()]
        lines += [self.guru_line(i) for i in range(len(self.guru_nips))]
        return "\n".join(lines) + "\n"

    def guru(self, i: int = 0) -> dict[str, str]:
        return bearer("guru", nip=self.guru_nips[i], npsn=self.npsn)

    def ks(self) -> dict[str, str]:
        return bearer("kepala_sekolah", nip=self.ks_nip, npsn=self.npsn)


def dinas(region: str | None = None) -> dict[str, str]:
    return bearer("dinas", region=region)


@dataclass
class Planning:
    client: httpx.AsyncClient
    runtime: Any
    settings: Settings
    js: Any
    # Every planning event seen on NATS since the service started: (subject, envelope, headers).
    seen: list[tuple[str, dict, dict]]

    # ---------------------------------------------------------------- calls
    async def import_csv(self, text: str, headers: dict | None = None) -> httpx.Response:
        return await self.client.post(
            "/v1/roster/imports", content=text.encode(),
            headers={"Content-Type": "text/csv", **(headers or dinas())},
        )

    async def import_csv_bytes(self, data: bytes, headers: dict | None = None) -> httpx.Response:
        return await self.client.post(
            "/v1/roster/imports", content=data, headers={"Content-Type": "text/csv", **(headers or dinas())}
        )

    async def open_period(self, region: str | None = None, year: int = 2026, semester: int = 1) -> dict:
        created = await self.client.post(
            "/v1/periods", json={"policy": "pmm-2024", "year": year, "semester": semester}, headers=dinas()
        )
        assert created.status_code == 201, created.text
        opened = await self.client.post(f"/v1/periods/{created.json()['period_id']}/open", headers=dinas(region))
        assert opened.status_code == 200, opened.text
        return opened.json()

    async def school_with_open_period(self) -> tuple[SampleSchool, dict]:
        school = SampleSchool()
        imported = await self.import_csv(school.csv())
        assert imported.status_code == 201, imported.text
        return school, await self.open_period(school.region)

    async def submit(self, school: SampleSchool, period_id: str, i: int = 0, indicators=("A.1", "D.1")) -> dict:
        response = await self.client.post(
            "/v1/plans", json={"period_id": period_id, "indicators": list(indicators), "summary": "Rencana"},
            headers=school.guru(i),
        )
        assert response.status_code == 201, response.text
        return response.json()

    # ---------------------------------------------------------------- what is stored
    async def count(self, table) -> int:
        async with self.runtime.session_factory() as session:
            return (await session.exec(select(func.count()).select_from(table))).one()

    async def counts(self) -> dict[str, int]:
        return {
            t.__name__: await self.count(t)
            for t in (School, Person, RosterImport, Period, PlanRow, OutboxMessage)
        }

    async def count_outbox(self) -> int:
        return await self.count(OutboxMessage)

    async def outbox(self) -> list[OutboxMessage]:
        async with self.runtime.session_factory() as session:
            return list((await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all())

    # ---------------------------------------------------------------- what was published
    async def events(self, event_type: str, n: int = 1, **payload_match) -> list[tuple[str, dict, dict]]:
        """Wait until at least n events of this type whose payload matches are on NATS."""

        def matching():
            found = []
            for subject, env, headers in self.seen:
                if env["type"] != event_type:
                    continue
                if all(_get(env["payload"], k) == v for k, v in payload_match.items()):
                    found.append((subject, env, headers))
            return found

        async def enough():
            found = matching()
            return found if len(found) >= n else None

        return await wait_for(enough)

    async def all_outbox_sent(self) -> bool:
        async def sent():
            return all(row.sent_at is not None for row in await self.outbox())

        return await wait_for(sent)


def _get(payload: dict, dotted: str):
    for part in dotted.split("__"):
        payload = payload.get(part) if isinstance(payload, dict) else None
    return payload


@asynccontextmanager
async def start_planning(settings: Settings):
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    seen: list[tuple[str, dict, dict]] = []

    async def collect(msg) -> None:
        seen.append((msg.subject, json.loads(msg.data), dict(msg.headers or {})))

    # Plain NATS subscription: JetStream stores the relay's publish and delivers it here too.
    await nc.subscribe("kinerja.planning.>", cb=collect)
    runtime, app = build(settings)
    try:
        async with running_app(app) as client:
            yield Planning(client, runtime, settings, js, seen)
    finally:
        await nc.close()
