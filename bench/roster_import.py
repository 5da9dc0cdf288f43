"""Province-sized roster import benchmark: generates a Dapodik-style CSV (default 500,000
people in 64,000 schools, one pengawas per 25 schools), runs the planning service's
command-line import (`python -m kinerja_planning import-roster`, streamed in batches) against
a fresh SQLite database (and PostgreSQL with --postgres URL), then imports the same file
again (every line unchanged, nothing published), and writes bench/results/roster_import.json:
rows, seconds, rows_per_s, peak_rss_mb of the import process, the machine. The file carries
the Dapodik columns (school jenjang/status/province code, NUPTK, NIK, jenis PTK). Measured,
never asserted.

With ``--before REF`` the same file is also imported by the planning and shared code of git
revision REF (extracted to a temporary directory and put first on PYTHONPATH, same venv), just
before the current code on each database, so a change is measured side by side in one run.

    .venv/bin/python bench/roster_import.py [--people 500000 --schools 64000] [--postgres fresh]
        [--before main] [--no-reimport]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import loadavg, machine  # bench/ is on sys.path when the script runs

HEADER = ("npsn,school_name,region_code,nip,name,role,jabatan,jenjang,golongan,asn_status,assessor_nip,"
          "school_jenjang,school_status,province_code,nuptk,nik,jenis_ptk")
JENJANG = ("Ahli Pertama", "Ahli Muda", "Ahli Madya")


def nip(i: int) -> str:
    """A unique NIP with possible parts for i < 10,080,000."""
    seq, day, month, year = i % 1000, (i // 1000) % 28 + 1, (i // 28000) % 12 + 1, 1965 + (i // 336000) % 30
    return f"{year}{month:02d}{day:02d}{year + 25}{month:02d}{1 + i % 2}{seq:03d}"


def dapodik(i: int, nip_: str, jenis_ptk: str, school: str = "SD,Negeri") -> str:
    """The Dapodik columns: a NIK that agrees with the NIP (day + 40 for a woman), a NUPTK."""
    day = int(nip_[6:8]) + (40 if nip_[14] == "2" else 0)
    nik = f"3201{i % 30 + 1:02d}{day:02d}{nip_[4:6]}{nip_[2:4]}{i % 9999 + 1:04d}"
    return f",{school},020000,{i + 1:016d},{nik},{jenis_ptk}"


def generate(path: Path, people: int, schools: int) -> int:
    pengawas_n = max(1, schools // 25)
    per_school = (people - pengawas_n) / schools
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER + "\n")
        for p in range(pengawas_n):
            region = f"02{p % 27 + 1:02d}00"
            f.write(f",,{region},{nip(p)},Pengawas {p},pengawas,Pengawas Sekolah,Ahli Madya,IV/b,PNS,"
                    f"{dapodik(p, nip(p), 'Pengawas Sekolah', ',')}\n")
            rows += 1
        i = pengawas_n
        for s in range(schools):
            pengawas = s % pengawas_n
            region = f"02{pengawas % 27 + 1:02d}00"
            npsn, name = f"{20000000 + s}", f"SD Negeri {s} Kab {pengawas % 27 + 1}"
            ks = nip(i)
            f.write(f"{npsn},{name},{region},{ks},\"Kepala {s}, S.Pd.\",kepala_sekolah,Kepala Sekolah,"
                    f"Ahli Madya,IV/a,PNS,{nip(pengawas)}{dapodik(i, ks, 'Kepala Sekolah')}\n")
            i += 1
            rows += 1
            end = pengawas_n + round((s + 1) * per_school)
            while i < end:
                status = "PPPK" if i % 7 == 0 else "PNS"
                f.write(f"{npsn},{name},{region},{nip(i)},\"Guru {i}, S.Pd.\",guru,Guru Kelas,"
                        f"{JENJANG[i % 3]},III/{'abcd'[i % 4]},{status},{ks}{dapodik(i, nip(i), 'Guru Kelas')}\n")
                i += 1
                rows += 1
    return rows


def run_import(path: Path, database_url: str, rows: int, *, code: Path | None = None, reimport: bool = True) -> dict:
    """The first import into an empty database, then (``reimport``) the same file again.
    ``code``: a directory holding another revision's shared/src and services/planning/src."""
    first = _import_once(path, database_url, rows, code)
    first["code"] = "before" if code else "after"
    if reimport:
        again = _import_once(path, database_url, rows, code)
        first["reimport"] = {k: again[k] for k in ("seconds", "rows_per_s", "load_average_1m", "result")}
    return first


def extract(ref: str, into: Path) -> Path:
    """The planning service and shared library of git revision ``ref``, as files under ``into``."""
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(root), "archive", ref, "shared/src", "services/planning/src"],
                             check=True, capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _import_once(path: Path, database_url: str, rows: int, code: Path | None = None) -> dict:
    env = {**os.environ, "KINERJA_DATABASE_URL": database_url}
    if code:  # ahead of the venv's editable installs of the current tree
        env["PYTHONPATH"] = f"{code / 'services/planning/src'}{os.pathsep}{code / 'shared/src'}"
    load_before = os.getloadavg()[0]  # the machine is shared: say how busy it was
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kinerja_planning", "import-roster", str(path), "--imported-by", "bench"],
            env=env, stdout=out, stderr=err, text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak RSS, not the max of all children
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"import failed: {stderr[-2000:]}")
    return {
        "database": database_url.split(":", 1)[0], "rows": rows, "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_rss_note": "ru_maxrss of the import process",
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "result": json.loads(stdout.strip().splitlines()[-1]),
    }


def _fresh_postgres(arg: str):
    from kinerja_shared.testing.servers import create_postgres_database

    return create_postgres_database() if arg == "fresh" else (arg, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=500_000)
    parser.add_argument("--schools", type=int, default=64_000)
    parser.add_argument("--postgres", help="postgresql+asyncpg://... of an empty database, or 'fresh' to "
                        "create one on KINERJA_TEST_PG_URL (dropped afterwards; one per run with --before)")
    parser.add_argument("--skip-sqlite", action="store_true", help="add the PostgreSQL run to an existing --out")
    parser.add_argument("--before", metavar="REF", help="also import with the code of git revision REF, side by side")
    parser.add_argument("--no-reimport", action="store_true", help="only the first import (halves the run)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "roster_import.json")
    args = parser.parse_args()
    reimport = not args.no_reimport
    load_start = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "province.csv"
        t = time.perf_counter()
        rows = generate(path, args.people, args.schools)
        print(f"generated {rows} rows, {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s", flush=True)
        codes = [extract(args.before, Path(tmp) / "before"), None] if args.before else [None]
        runs = []
        if not args.skip_sqlite:
            for i, code in enumerate(codes):
                runs.append(run_import(path, f"sqlite+aiosqlite:///{tmp}/bench{i}.db", rows, code=code, reimport=reimport))
                print(json.dumps(runs[-1]), flush=True)
        if args.postgres:
            from kinerja_shared.testing.servers import drop_postgres_database

            for code in codes:
                url, name = _fresh_postgres(args.postgres)
                try:
                    runs.append(run_import(path, url, rows, code=code, reimport=reimport))
                finally:
                    if name:
                        drop_postgres_database(name)
                print(json.dumps(runs[-1]), flush=True)
        file_mb = round(path.stat().st_size / 1e6, 1)
    if args.skip_sqlite and args.out.exists():
        runs = [r for r in json.loads(args.out.read_text())["runs"] if r["database"] != runs[0]["database"]] + runs

    def summary(database: str, code: str) -> dict | None:
        run = next((r for r in runs if r["database"].startswith(database) and r.get("code", "after") == code), None)
        return run and {k: run[k] for k in ("rows_per_s", "seconds", "peak_rss_mb", "cpu_s", "load_average_1m") if k in run}

    sqlite = summary("sqlite", "after") or {}
    result = {
        "benchmark": "roster_import", "people": args.people, "schools": args.schools, "file_mb": file_mb,
        "rows": rows, "rows_per_s": sqlite.get("rows_per_s"), "peak_rss_mb": sqlite.get("peak_rss_mb"),
        "postgresql": summary("postgresql", "after"),
        "before": args.before and {
            "ref": args.before,
            "commit": subprocess.run(["git", "rev-parse", args.before], capture_output=True, text=True).stdout.strip(),
            "sqlite": summary("sqlite", "before"), "postgresql": summary("postgresql", "before"),
        },
        "runs": runs, "machine": machine(("sqlalchemy", "sqlmodel", "aiosqlite", "asyncpg", "alembic", "rich")),
        "load_average": {"start": load_start, "end": loadavg()},
        "note": "2 cores shared with other engineers' work (their test runs) while measured, so the "
                "numbers are lower bounds (each run records the 1-minute load before and after); first "
                "import into an empty database (every row added, every school published once per batch it "
                "appears in), then, unless --no-reimport, the same file again (reimport: nothing written or "
                "published). The command line imports the file as complete (who left is checked for every "
                "school it lists). With --before, each database imports the file with the old code, then "
                "the current code, into fresh databases.",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
