"""The composition root: settings, runtime (database, NATS, outbox), routes, and the
command line (serve, import-roster)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from fastapi import FastAPI

from kinerja_shared.auth import Principal
from kinerja_shared.db import make_engine, make_session_factory
from kinerja_shared.errors import AppError
from kinerja_shared.logging import get_logger
from kinerja_shared.migrations import upgrade_database
from kinerja_shared.runtime import ServiceRuntime, serve
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_planning.adapters.tables import TABLES
from kinerja_planning.entrypoints import http, plans_http
from kinerja_planning.migrations import LOCATION as MIGRATIONS
from kinerja_planning.service_layer import periods, roster, roster_stream
from kinerja_planning.settings import Settings

DESCRIPTION = """Roster (schools, people, who assesses whom), periods made from a policy,
Rapor Pendidikan priorities, and plans (SKP) in five steps with monthly targets.

A guru (or a kepala sekolah, for their own plan) writes a draft step by step, drawing Praktik
Kinerja from the school's priorities, and submits it; their assessor (the kepala sekolah, or
for a principal their pengawas / Tim Kinerja member) agrees it ("disepakati") or returns it
with a reason ("dikembalikan"). Stage windows are enforced in Asia/Jakarta time; periods open
and close by the clock. Every change is published through the outbox (see the event catalog).
Planning consumes no events."""

log = get_logger(__name__)


def build(settings: Settings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, tables=TABLES, migrations=MIGRATIONS)
    app = runtime.http_app(
        title="Kinerja planning", description=DESCRIPTION, routers=[http.router, plans_http.router]
    )
    if settings.period_tick_s > 0:
        runtime.add_background(lambda: _period_clock(runtime, settings.period_tick_s))
    return runtime, app


async def _period_clock(runtime: ServiceRuntime, every_s: float) -> None:
    """Periods open, announce their stages and close by the clock, without anyone pressing a
    button. A failed tick (database briefly down) is logged and tried again next time."""
    while True:
        try:
            await periods.tick(runtime.uow, runtime.clock)
        except Exception:  # noqa: BLE001 - keep ticking; the next tick catches up
            log.exception("period.clock_failed")
        await asyncio.sleep(every_s)


async def import_roster_file(
    settings: Settings, path: Path, imported_by: str, progress: roster_stream.Progress | None = None,
    complete: bool = True,
) -> roster.ImportResult:
    """The same use case as the HTTP import, straight against the database. The events wait in
    the outbox; the running service's relay publishes them."""
    engine = make_engine(settings.database_url)
    try:
        await upgrade_database(engine, MIGRATIONS)
        uow = UnitOfWorkFactory(make_session_factory(engine), settings.service_name,
                                event_max_bytes=settings.event_max_bytes)
        # The command line reads any school's file: the machine identity, scope everywhere.
        principal = Principal(sub=imported_by, role="sistem")
        # Streamed in batches: a province file is never held whole (service_layer/roster_stream).
        return await roster_stream.import_roster_path(uow, principal, path, progress=progress, complete=complete)
    finally:
        await engine.dispose()


cli = typer.Typer(help="Kinerja planning service.", add_completion=False, no_args_is_help=False)


@cli.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """With no command: serve HTTP."""
    if ctx.invoked_subcommand is None:
        serve_command()


@cli.command("serve")
def serve_command() -> None:
    """Serve the HTTP API (configured by KINERJA_* environment variables)."""
    settings = Settings()
    _, app = build(settings)
    serve(app, settings)


async def _import_with_progress(file: Path, imported_by: str, complete: bool) -> roster.ImportResult:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    phases = {"indeks": "indeks NIP", "periksa": "memeriksa", "tulis": "menulis", "keluar": "yang keluar"}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phases.get(phase, phase), total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        return await import_roster_file(Settings(), file, imported_by, progress, complete)


@cli.command("import-roster")
def import_roster_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="roster CSV"),
    imported_by: str = typer.Option("cli", help="who is importing (kept in the import record)"),
    complete: bool = typer.Option(
        True, "--complete/--partial",
        help="complete (default): the file is the whole roster of every school it lists, so people "
        "stored there and absent from it leave; partial: only add and update",
    ),
) -> None:
    """Import a roster CSV into the database (all lines or none)."""
    try:
        result = asyncio.run(_import_with_progress(file, imported_by, complete))
    except AppError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        for line in exc.details or []:
            typer.echo(f"  baris {line['line']} (NIP {line['nip'] or '-'}): {'; '.join(line['problems'])}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({
        "import_id": result.import_id, "schools": result.schools, "people": result.people,
        "added": result.added, "changed": result.changed, "moved": result.moved,
        "unchanged": result.unchanged, "left": result.left, "published_schools": result.published_schools,
    }))


def main() -> None:
    cli()
