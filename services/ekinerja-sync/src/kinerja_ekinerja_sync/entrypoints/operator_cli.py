"""Operator commands: ``python -m kinerja_ekinerja_sync.entrypoints.operator_cli retry <assessment_id>``.

Runs against the service's database (settings ``KINERJA_*``) as the "sistem" role; the worker of a
running service picks the re-queued record up on its next round."""

from __future__ import annotations

import asyncio
import json

import typer

from kinerja_shared.auth import Principal
from kinerja_shared.errors import AppError

from kinerja_ekinerja_sync.settings import Settings

app = typer.Typer(add_completion=False, help="Operator commands of ekinerja-sync")


@app.callback()
def _commands() -> None:
    """Keeps ``retry`` a named sub-command (Typer would flatten a single command)."""


async def _with_runtime(action):
    from kinerja_ekinerja_sync.bootstrap import build

    from kinerja_shared.migrations import upgrade_database

    runtime, _app = build(Settings())  # no NATS needed: only the database is touched
    await upgrade_database(runtime.engine, runtime.migrations)
    try:
        return await action(runtime)
    finally:
        await runtime.engine.dispose()


@app.command()
def retry(assessment_id: str, operator: str = typer.Option("cli", help="Who asks (kept in the history)")) -> None:
    """Re-queue a parked record by its key (assessment id, plan id, or "<assessment id>:<review>");
    its attempt history is kept."""
    from kinerja_ekinerja_sync.service_layer.operator import requeue_parked

    principal = Principal(sub=operator, role="sistem")
    try:
        result = asyncio.run(_with_runtime(lambda rt: requeue_parked(rt.uow, principal, assessment_id)))
    except AppError as exc:
        typer.echo(json.dumps({"error": exc.code, "message": exc.message}, ensure_ascii=False), err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(result, default=str, ensure_ascii=False))



@app.command()
def reconcile(
    period: str = typer.Option(..., help="TAHUN-BULANMULAI-BULANSELESAI, e.g. 2026-1-6"),
    region: str = typer.Option(..., help="6-digit region code"),
    requeue_missing: bool = typer.Option(False, help="Re-send the results e-Kinerja does not hold"),
    kind: str = typer.Option("hasil", help="hasil (final results) or skp (agreed plans)"),
) -> None:
    """Compare a period and region with e-Kinerja; print the report as JSON."""
    from kinerja_ekinerja_sync.service_layer.reconciliation import reconcile as run

    principal = Principal(sub="cli", role="sistem")

    async def action(rt):
        try:
            return await run(rt.uow, rt.worker.client, principal, period, region, requeue_missing=requeue_missing,
                             kind=kind)
        finally:
            await rt.worker.client.aclose()

    try:
        result = asyncio.run(_with_runtime(action))
    except AppError as exc:
        typer.echo(json.dumps({"error": exc.code, "message": exc.message}, ensure_ascii=False), err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(result, default=str, ensure_ascii=False))


if __name__ == "__main__":
    app()
