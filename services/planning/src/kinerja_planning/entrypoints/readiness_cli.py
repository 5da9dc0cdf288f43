"""Readiness report from the command line, for an operator dinas before opening planning:

    python -m kinerja_planning.entrypoints.readiness_cli district 020500
    python -m kinerja_planning.entrypoints.readiness_cli school 20212345 --json

Reads the database named by KINERJA_DATABASE_URL. Exit code 0 when ready, 1 when not, 2 on
an error (such as an unknown school), so a script can gate the opening of a period on it.
"""

from __future__ import annotations

import asyncio
import json

import typer
from rich.console import Console
from rich.table import Table

from kinerja_shared.auth import Principal
from kinerja_shared.db import make_engine, make_session_factory
from kinerja_shared.errors import AppError
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.service_layer import readiness
from kinerja_planning.settings import Settings

cli = typer.Typer(help="Laporan kesiapan data roster.", add_completion=False)
# An operator's tool on the database itself: the machine identity, every region.
_PRINCIPAL = Principal(sub="readiness-cli", role="sistem")


async def _run(kind: str, key: str) -> dict:
    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        uow = UnitOfWorkFactory(make_session_factory(engine), settings.service_name,
                                event_max_bytes=settings.event_max_bytes)
        if kind == "school":
            return await readiness.school_readiness(uow, _PRINCIPAL, key)
        return await readiness.district_readiness(uow, _PRINCIPAL, key)
    finally:
        await engine.dispose()


def _print(report: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    console = Console(width=160)
    schools = report.get("not_ready", [report] if "issues" in report else [])
    if "schools" in report:
        console.print(
            f"Wilayah {report['region_code']}: {report['schools_ready']}/{report['schools']} sekolah siap, "
            f"{report['people']} pegawai; masalah per pihak: {report['by_actor']}"
        )
    for school in schools:
        table = Table(title=f"{school['npsn']} {school['name']}", show_lines=False)
        for column in ("pihak", "kode", "nip", "nama", "pesan"):
            table.add_column(column, overflow="fold")
        for i in school["issues"]:
            table.add_row(i["actor"], i["code"], i["nip"] or "-", i["name"] or "-", i["message"])
        console.print(table if school["issues"] else f"{school['npsn']} {school['name']}: siap")


def _command(kind: str, key: str, as_json: bool) -> None:
    try:
        report = asyncio.run(_run(kind, key))
    except AppError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from None
    _print(report, as_json)
    ready = report["ready"] if kind == "school" else report["schools_ready"] == report["schools"]
    raise typer.Exit(0 if ready else 1)


@cli.command("school")
def school(npsn: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Kesiapan satu sekolah (NPSN)."""
    _command("school", npsn, as_json)


@cli.command("district")
def district(code: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Kesiapan semua sekolah satu kabupaten/kota (kode wilayah)."""
    _command("district", code, as_json)


if __name__ == "__main__":
    cli()
