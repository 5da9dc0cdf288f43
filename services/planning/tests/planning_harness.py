"""Test support: the planning service running in-process against real NATS JetStream and a real
database (SQLite, then PostgreSQL). Every test gets a fresh database; the NATS server is
shared by the session, so tests use fresh NIPs/NPSNs and pick their own events by id."""

from __future__ import annotations

import json
from datetime import datetime, timezone
import random
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import nats
from sqlalchemy import func
from sqlmodel import select

from kinerja_shared.clock import FixedClock
from kinerja_shared.messaging.outbox import OutboxMessage
from kinerja_shared.messaging.streams import ensure_streams
from kinerja_shared.testing.http import bearer, running_app

from kinerja_planning.adapters.tables import Period, Person, PlanRow, RosterImport, School, SchoolPriorities
from kinerja_planning.bootstrap import build
from kinerja_planning.domain.plans import BERAKHLAK
from kinerja_planning.settings import Settings
from kinerja_shared.testing.servers import nats_client_options
from kinerja_shared.testing.wait import eventually as wait_for

HEADER = "npsn,school_name,region_code,nip,name,role,jabatan,jenjang,golongan,asn_status,assessor_nip"
# The optional Dapodik columns, after the others (SampleSchool(dapodik=True) fills them).
DAPODIK_HEADER = HEADER + ",school_jenjang,school_status,province_code,nuptk,nik,jenis_ptk"


def new_nip(year: int | None = None) -> str:
    """A NIP whose parts are possible: birth date, CPNS start, sex digit, sequence."""
    year = year or random.randint(1965, 1995)
    return (
        f"{year}{random.randint(1, 12):02d}{random.randint(1, 28):02d}"
        f"{year + 25}{random.randint(1, 12):02d}{random.choice('12')}{random.randint(0, 999):03d}"
    )


def nik_for(nip: str) -> str:
    """A NIK that agrees with a PNS NIP: the same birth date (day + 40 for a woman)."""
    day = int(nip[6:8]) + (40 if nip[14] == "2" else 0)
    return f"3201{random.randint(1, 30):02d}{day:02d}{nip[4:6]}{nip[2:4]}{random.randint(1, 9999):04d}"


def new_nuptk() -> str:
    return f"{random.randint(1, 9999999999999999):016d}"


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
    # With the Dapodik columns (DAPODIK_HEADER): NIKs that agree with the NIPs, jenis PTK.
    dapodik: bool = False
    jenjang: str = "SD"
    status: str = "Negeri"

    def _dapodik(self, nip: str, jenis_ptk: str, school: bool = True) -> str:
        if not self.dapodik:
            return ""
        if nip not in _NIK:
            _NIK[nip] = (nik_for(nip), new_nuptk())
        nik, nuptk = _NIK[nip]
        school_cols = f"{self.jenjang},{self.status}" if school else ","
        return f",{school_cols},{self.region[:2]}0000,{nuptk},{nik},{jenis_ptk}"

    def pengawas_line(self) -> str:
        return (f",,{self.region},{self.pengawas_nip},Drs. Pengawas,pengawas,Pengawas Sekolah,Ahli Madya,IV/b,PNS,"
                + self._dapodik(self.pengawas_nip, "Pengawas Sekolah", school=False))

    def ks_line(self) -> str:
        return (
            f"{self.npsn},{self.name},{self.region},{self.ks_nip},\"Kepala, S.Pd.\",kepala_sekolah,"
            f"Kepala Sekolah,Ahli Madya,IV/a,PNS,{self.pengawas_nip}" + self._dapodik(self.ks_nip, "Kepala Sekolah")
        )

    def guru_line(self, i: int, name: str | None = None) -> str:
        return (
            f"{self.npsn},{self.name},{self.region},{self.guru_nips[i]},\"{name or f'Guru {i}'}\",guru,"
            f"Guru Kelas,Ahli Pertama,III/a,PNS,{self.ks_nip}" + self._dapodik(self.guru_nips[i], "Guru Kelas")
        )

    def header(self) -> str:
        return DAPODIK_HEADER if self.dapodik else HEADER

    def nik(self, nip: str) -> str:
        return _NIK[nip][0]

    def csv(self) -> str:
        lines = [self.header(), self.pengawas_line(), self.ks_line()]
        lines += [self.guru_line(i) for i in range(len(self.guru_nips))]
        return "\n".join(lines) + "\n"

    def guru(self, i: int = 0) -> dict[str, str]:
        return bearer("guru", nip=self.guru_nips[i], npsn=self.npsn)

    def ks(self) -> dict[str, str]:
        return bearer("kepala_sekolah", nip=self.ks_nip, npsn=self.npsn)


_NIK: dict[str, tuple[str, str]] = {}  # NIP -> (NIK, NUPTK), stable across a test's lines


def dinas(region: str | None = None) -> dict[str, str]:
    return bearer("dinas", region=region)


def sistem() -> dict[str, str]:
    """The machine identity (scope everywhere): set-up that is not what a test is about."""
    return bearer("sistem")


# The region KINERJA_PERIOD_REGION places the tests' periods at (conftest), and its Dinas.
CALENDAR_REGION = "020000"


def province_dinas() -> dict[str, str]:
    return dinas(CALENDAR_REGION)


RAPOR = {"A.1": "KURANG", "A.2": "SEDANG", "D.1": "KURANG", "D.4": "BAIK"}
EXPECTATIONS = {v: f"Ekspektasi {label}" for v, label in BERAKHLAK.items()}
# 10:00 WIB on 10 January 2026: Semester 1 2026 is in its planning stage.
JANUARY = datetime(2026, 1, 10, 3, 0, tzinfo=timezone.utc)


def complete_steps(indicator: str = "D.1", months=range(2, 6)) -> dict:
    """Every step of a plan that passes submission under pmm-2024, Semester 1 2026."""
    return {
        "praktik_kinerja": [{"item_id": "pk1", "indicator": indicator, "focus_behaviours": ["Disiplin positif"]}],
        "pengembangan_kompetensi": [
            {"item_id": "c1", "activity_type": "komunitas_belajar", "title": "Kombel literasi", "points": 16},
            {"item_id": "c2", "activity_type": "pelatihan", "title": "Pelatihan disiplin positif", "points": 16},
        ],
        "tugas_tambahan": [{"item_id": "t1", "duty": "Wali kelas 4"}],
        "rangkuman": "Rencana",
        "target_bulanan": [{"month": f"2026-{m:02d}", "item_id": "pk1", "description": f"Target bulan {m}"} for m in months],
    }


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
            headers={"Content-Type": "text/csv", **(headers or sistem())},
        )

    async def import_csv_bytes(self, data: bytes, headers: dict | None = None) -> httpx.Response:
        return await self.client.post(
            "/v1/roster/imports", content=data, headers={"Content-Type": "text/csv", **(headers or sistem())}
        )

    async def open_period(self, year: int = 2026, semester: int = 1) -> dict:
        created = await self.client.post(
            "/v1/periods", json={"policy": "pmm-2024", "year": year, "semester": semester}, headers=province_dinas()
        )
        assert created.status_code == 201, created.text
        opened = await self.client.post(f"/v1/periods/{created.json()['period_id']}/open", headers=province_dinas())
        assert opened.status_code == 200, opened.text
        return opened.json()

    async def set_priorities(self, school: SampleSchool, period_id: str, priorities=("A.1", "D.1")) -> None:
        response = await self.client.put(
            f"/v1/schools/{school.npsn}/priorities/{period_id}",
            json={"results": RAPOR, "priorities": list(priorities)}, headers=school.ks(),
        )
        assert response.status_code == 200, response.text

    async def school_with_open_period(self) -> tuple[SampleSchool, dict]:
        """A school in the roster, Semester 1 2026 open (the clock in January), priorities set."""
        school = SampleSchool()
        imported = await self.import_csv(school.csv())
        assert imported.status_code == 201, imported.text
        period = await self.open_period()
        await self.set_priorities(school, period["period_id"])
        return school, period

    async def draft(self, school: SampleSchool, period_id: str, i: int = 0, **steps) -> dict:
        body = {"period_id": period_id, **complete_steps(), **steps}
        response = await self.client.post("/v1/plans", json=body, headers=school.guru(i))
        assert response.status_code == 201, response.text
        return response.json()

    async def submit(self, school: SampleSchool, period_id: str, i: int = 0, **steps) -> dict:
        """A complete plan, drafted and submitted."""
        plan = await self.draft(school, period_id, i, **steps)
        response = await self.client.post(f"/v1/plans/{plan['plan_id']}/submit", headers=school.guru(i))
        assert response.status_code == 200, response.text
        return response.json()

    async def approve(self, school: SampleSchool, plan_id: str, headers: dict | None = None) -> httpx.Response:
        return await self.client.post(f"/v1/plans/{plan_id}/approve", json={"perilaku_kerja": EXPECTATIONS},
                                      headers=headers or school.ks())

    # ---------------------------------------------------------------- what is stored
    async def count(self, table) -> int:
        async with self.runtime.session_factory() as session:
            return (await session.exec(select(func.count()).select_from(table))).one()

    async def counts(self) -> dict[str, int]:
        return {
            t.__name__: await self.count(t)
            for t in (School, Person, RosterImport, Period, SchoolPriorities, PlanRow, OutboxMessage)
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
async def start_planning(settings: Settings, clock=None):
    nc = await nats.connect(**nats_client_options(settings.nats_url))
    js = nc.jetstream()
    await ensure_streams(js, settings)
    seen: list[tuple[str, dict, dict]] = []
    event_ids: set[str] = set()

    async def collect(msg) -> None:
        # The relay republishes a row whose "sent" mark did not commit (SQLite busy, a slow
        # ack): JetStream drops the copy by Nats-Msg-Id, a plain subscription does not.
        envelope = json.loads(msg.data)
        if envelope["event_id"] in event_ids:
            return
        event_ids.add(envelope["event_id"])
        seen.append((msg.subject, envelope, dict(msg.headers or {})))

    # Plain NATS subscription: JetStream stores the relay's publish and delivers it here too.
    await nc.subscribe("kinerja.planning.>", cb=collect)
    runtime, app = build(settings)
    runtime.clock = clock or FixedClock(JANUARY)
    try:
        async with running_app(app) as client:
            yield Planning(client, runtime, settings, js, seen)
    finally:
        await nc.close()
