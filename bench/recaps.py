"""Recaps at province size: a PostgreSQL database with the schema at head, N assessments spread
over schools and districts of one province (default: Jawa Barat, 494 thousand teachers in 63.8
thousand schools, 27 districts), then the province, district and school recaps through the use
case, timed (the second of two runs, so the cache is warm). A measurement, not a test; writes
bench/results/recaps.json with the machine.

    .venv/bin/python bench/recaps.py [--teachers 494000] [--schools 63800]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from kinerja_shared.auth import Principal
from kinerja_shared.clock import FixedClock
from kinerja_shared.db import make_engine, make_session_factory
from kinerja_shared.migrations import upgrade_database
from kinerja_shared.testing.servers import create_postgres_database, drop_postgres_database
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_assessment.adapters.tables import Assessment, PeriodView
from kinerja_assessment.migrations import LOCATION
from kinerja_assessment.service_layer.recaps import recap
from machine_info import loadavg, machine  # bench/ is on sys.path when the script runs

PREDIKAT = ["SANGAT_BAIK", "BAIK", "BAIK", "BAIK", "BUTUH_PERBAIKAN", "KURANG", "SANGAT_KURANG"]
JENJANG = ["PERTAMA", "MUDA", "MADYA", "UTAMA", ""]


async def main(teachers: int, schools: int, out: Path) -> None:
    load_before = loadavg()
    url, name = create_postgres_database()
    engine = make_engine(url)
    try:
        await upgrade_database(engine, LOCATION)
        period_id = "bench-period"
        rnd = random.Random(7)
        districts = [f"02{d:02d}00" for d in range(1, 28)]
        school_region = {f"{20000000 + s}": rnd.choice(districts) for s in range(schools)}
        npsns = list(school_region)
        finalized = datetime(2026, 6, 20, tzinfo=timezone.utc)
        started = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(PeriodView.__table__.insert(), [{
                "period_id": period_id, "name": "Semester 1 2026", "policy": "pmm-2024", "year": 2026,
                "month_start": 1, "month_end": 6, "semester": 1, "stages": "[]", "competency_points_min": 32}])
            batch = []
            for i in range(teachers):
                npsn = npsns[i % schools]
                final = rnd.random() < 0.8
                batch.append({
                    "assessment_id": str(uuid.uuid4()), "plan_id": str(uuid.uuid4()), "period_id": period_id,
                    "teacher_nip": f"{i:018d}", "school_npsn": npsn, "assessor_nip": "1" * 18,
                    "region": school_region[npsn], "version": 1, "status": "final" if final else "open",
                    "predikat": rnd.choice(PREDIKAT) if final else None, "jenjang": rnd.choice(JENJANG),
                    "evidence_count": 0, "created_at": finalized, "updated_at": finalized,
                    "finalized_at": finalized if final else None, "plan_kind": "guru", "plan_items": "[]",
                })
                if len(batch) == 10_000:
                    await conn.execute(Assessment.__table__.insert(), batch)
                    batch = []
            if batch:
                await conn.execute(Assessment.__table__.insert(), batch)
            await conn.exec_driver_sql("ANALYZE assessments")
        load_s = time.perf_counter() - started
        print(f"loaded {teachers} assessments in {schools} schools in {load_s:.1f} s")
        timings = []
        uow = UnitOfWorkFactory(make_session_factory(engine), "bench", lambda: None)
        clock = FixedClock(datetime(2026, 7, 5, tzinfo=timezone.utc))
        dinas = Principal(sub="dinas", role="dinas", region="020000")
        for level, code, kwargs in (("province", "020000", {}), ("district", districts[0], {"limit": 100}),
                                    ("district", districts[0], {"limit": 100, "offset": 2000}),
                                    ("school", npsns[0], {})):
            for attempt in range(2):
                t = time.perf_counter()
                result = await recap(uow, dinas, clock, period_id=period_id, level=level, code=code, **kwargs)
                took = time.perf_counter() - t
            print(f"{level:<9} {code} {kwargs}: {took * 1000:.0f} ms (second run), total {result['totals']['total']}, "
                  f"units {len(result['units'])}/{result['total_units']}")
            timings.append({"level": level, "code": code, **kwargs, "ms": round(took * 1000, 1),
                            "assessments": result["totals"]["total"], "units": len(result["units"]),
                            "total_units": result["total_units"]})
        out.write_text(json.dumps({
            "benchmark": "assessment_recaps", "database": "postgresql", "teachers": teachers, "schools": schools,
            "districts": len(districts), "load_s": round(load_s, 1), "recaps": timings,
            "machine": {**machine(("sqlalchemy", "sqlmodel", "asyncpg")), "loadavg_before": load_before,
                        "loadavg_after": loadavg()},
            "finished_at": datetime.now(timezone.utc).isoformat(),
        }, indent=2) + "\n")
        print(f"wrote {out}")
    finally:
        await engine.dispose()
        drop_postgres_database(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--teachers", type=int, default=494_000)
    parser.add_argument("--schools", type=int, default=63_800)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "recaps.json")
    options = parser.parse_args()
    asyncio.run(main(options.teachers, options.schools, options.out))
