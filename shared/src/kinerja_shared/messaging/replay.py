"""Publish a service's outbox again (``kinerja-outbox replay``) after a NATS host lost events.

JetStream can lose writes it had acknowledged: a host whose disk is gone, or a power failure
before the data reached the disk (Jepsen's 2025 analysis of NATS 2.12.1 found this with the
default fsync interval). The outbox already marked those rows sent, so the relay will not
publish them again. Published rows stay in the outbox for KINERJA_OUTBOX_RETENTION_DAYS; this
tool publishes every one sent at or after ``--since`` once more, in the order they were written
(by row id), with the headers the relay used, ``Nats-Msg-Id`` = event id included:

- an event the server still holds within its de-duplication window is acknowledged as a
  duplicate and not stored twice;
- an event stored again reaches consumers, whose inbox (consumer, event id) skips any they had
  already applied.

So running it twice, or with ``--since`` earlier than needed, is safe. It reads the database
and never writes to it (the rows keep their first stream sequence).

``kinerja-outbox parked`` lists the rows the relay parked (NATS could not take them: see
:mod:`kinerja_shared.messaging.outbox`), with their reason; ``kinerja-outbox unpark`` puts them
back in line (``--event-id`` one or more, or ``--all``) once the cause is fixed, e.g. NATS's
``max_payload`` raised. The running relay publishes them at its next poll; a row that still
cannot go out is parked again.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nats
import typer
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from sqlalchemy import func, select, update

from kinerja_shared.db import SessionFactory, make_engine, make_session_factory
from kinerja_shared.messaging.nats_auth import OPERATOR, client_options
from kinerja_shared.messaging.outbox import OutboxMessage, headers_for
from kinerja_shared.settings import ServiceSettings

PAGE_SIZE = 500
PROGRESS_EVERY = 10_000
DURATION = re.compile(r"(\d+)([smhdw])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass
class ReplayResult:
    selected: int = 0  # rows sent at or after `since`
    stored: int = 0  # stored by the server as new messages
    duplicates: int = 0  # acknowledged as duplicates (Nats-Msg-Id still in the window)

    @property
    def republished(self) -> int:
        return self.stored + self.duplicates


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """ISO 8601 with a timezone (``2026-05-01T08:00:00+07:00``, ``...Z``) or a duration back
    from now (``90m``, ``2h``, ``3d``, ``1d12h``; units s, m, h, d, w)."""
    text = text.strip()
    if re.fullmatch(r"(\d+[smhdw])+", text):
        seconds = sum(int(n) * UNIT_SECONDS[unit] for n, unit in DURATION.findall(text))
        return (now or datetime.now(timezone.utc)) - timedelta(seconds=seconds)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time or a duration like 2h or 3d: {text!r}") from None
    if value.tzinfo is None:
        # A time without an offset is ambiguous across WIB/WITA/WIT and UTC servers.
        raise ValueError(f"give a timezone, e.g. {text}+07:00 or {text}Z")
    return value.astimezone(timezone.utc)


def resolve_database_url(service: str, database_url: str | None) -> str:
    """--database-url or KINERJA_DATABASE_URL; without either, the embedded stack's SQLite file
    for the service (data/db/<service>.db under the current folder: `make run`'s layout)."""
    if not database_url:
        database_url = f"sqlite+aiosqlite:///{(Path('data') / 'db' / f'{service}.db').resolve()}"
    if database_url.startswith("sqlite"):
        # Opening a missing SQLite file would create an empty one and report 0 events.
        path = database_url.split(":///", 1)[-1]
        if not Path(path).is_file():
            raise ValueError(f"no SQLite database at {path} (give --database-url or KINERJA_DATABASE_URL)")
    return database_url


def _since_filter(since: datetime):
    table = OutboxMessage.__table__
    # sent_at >= since also covers every row written since then (a row is sent after it is
    # written). Unsent rows are left to the relay, which publishes them anyway.
    return table.c.sent_at.is_not(None), table.c.sent_at >= since


async def count_published_since(session_factory: SessionFactory, since: datetime) -> int:
    table = OutboxMessage.__table__
    async with session_factory() as session:
        connection = await session.connection()
        return (await connection.execute(select(func.count()).select_from(table).where(*_since_filter(since)))).scalar_one()


async def replay_outbox(
    session_factory: SessionFactory,
    js: JetStreamContext,
    since: datetime,
    *,
    page_size: int = PAGE_SIZE,
    progress=None,
) -> ReplayResult:
    """Publish every row sent at or after ``since`` again, in row order, one acknowledged
    publish after the other (so the stream receives them in the original order)."""
    table = OutboxMessage.__table__
    result = ReplayResult()
    last_id = 0
    while True:
        # Keyset pages: bounded memory, and no transaction held open while publishing.
        async with session_factory() as session:
            connection = await session.connection()
            rows = (
                await connection.execute(
                    select(table.c.id, table.c.event_id, table.c.event_type, table.c.subject, table.c.data,
                           table.c.correlation_id)
                    .where(*_since_filter(since), table.c.id > last_id)
                    .order_by(table.c.id)
                    .limit(page_size)
                )
            ).all()
        if not rows:
            return result
        for row in rows:
            result.selected += 1
            try:
                ack = await js.publish(row.subject, row.data.encode(), headers=headers_for(row), timeout=5)
            except NoRespondersError:
                raise RuntimeError(
                    f"no stream takes {row.subject}: start the service first (it declares the streams)"
                ) from None
            if ack.duplicate:
                result.duplicates += 1
            else:
                result.stored += 1
            if progress and result.selected % PROGRESS_EVERY == 0:
                progress(result)
        last_id = rows[-1].id


@dataclass
class ParkedRow:
    id: int
    event_id: str
    event_type: str
    subject: str
    size: int
    created_at: datetime
    parked_at: datetime
    reason: str


def _parked_filter():
    table = OutboxMessage.__table__
    return table.c.sent_at.is_(None), table.c.parked_at.is_not(None)


async def list_parked(session_factory: SessionFactory, limit: int = 1000) -> list[ParkedRow]:
    """Parked rows, oldest first (at most ``limit``)."""
    table = OutboxMessage.__table__
    async with session_factory() as session:
        connection = await session.connection()
        rows = (
            await connection.execute(
                select(table.c.id, table.c.event_id, table.c.event_type, table.c.subject,
                       func.length(table.c.data).label("size"), table.c.created_at, table.c.parked_at,
                       table.c.parked_reason)
                .where(*_parked_filter()).order_by(table.c.id).limit(limit)
            )
        ).all()
    return [ParkedRow(r.id, r.event_id, r.event_type, r.subject, r.size, r.created_at, r.parked_at,
                      r.parked_reason or "") for r in rows]


async def unpark(session_factory: SessionFactory, event_ids: list[str] | None) -> int:
    """Put parked rows back in line (``event_ids``, or every parked row for None), their
    attempts counted from 0 again; return how many."""
    table = OutboxMessage.__table__
    where = list(_parked_filter())
    if event_ids is not None:
        where.append(table.c.event_id.in_(event_ids))
    async with session_factory() as session:
        connection = await session.connection()
        result = await connection.execute(
            update(table).where(*where).values(parked_at=None, parked_reason=None, publish_attempts=0)
        )
        await session.commit()
    return result.rowcount or 0


cli = typer.Typer(help="The transactional outbox: republish published events after a NATS host lost them; "
                       "list and unpark rows the relay parked.")


@cli.callback()
def main() -> None:
    """kinerja-outbox COMMAND --help for each command."""


@cli.command("replay")
def replay_command(
    service: str = typer.Option(..., help="planning, evidence, assessment or ekinerja-sync: names the output; "
                                           "without a database URL, data/db/<service>.db is used"),
    since: str = typer.Option(..., help="events published at or after: ISO 8601 with a timezone "
                                         "(2026-05-01T08:00:00+07:00) or a duration back from now (2h, 3d)"),
    database_url: str | None = typer.Option(None, envvar="KINERJA_DATABASE_URL", help="the service's database"),
    nats_url: str = typer.Option("nats://127.0.0.1:4222", envvar="KINERJA_NATS_URL",
                                 help="comma-separated for a cluster"),
    dry_run: bool = typer.Option(False, "--dry-run", help="only count the events"),
) -> None:
    try:
        start = parse_since(since)
        url = resolve_database_url(service, database_url)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    window = f"{service}: events published since {start.isoformat(timespec='seconds')}"

    async def run() -> ReplayResult | int:
        engine = make_engine(url)
        session_factory = make_session_factory(engine)
        nc = None
        try:
            if dry_run:
                return await count_published_since(session_factory, start)
            # As operator (KINERJA_NATS_USER / KINERJA_NATS_PASSWORD): it republishes a
            # service's events, which only that service and operator may publish.
            options = client_options(ServiceSettings(nats_url=nats_url), default_user=OPERATOR)
            nc = await nats.connect(**options, connect_timeout=5, max_reconnect_attempts=3)
            return await replay_outbox(
                session_factory, nc.jetstream(), start,
                progress=lambda r: typer.echo(f"{window}: {r.selected} republished so far"),
            )
        finally:
            if nc is not None:
                await nc.close()
            await engine.dispose()

    try:
        outcome = asyncio.run(run())
    except Exception as exc:
        # Safe to run again: what went out is a duplicate the second time.
        typer.echo(f"{window}: replay failed: {exc}", err=True)
        raise typer.Exit(1) from None
    if isinstance(outcome, int):
        typer.echo(f"{window}: {outcome} would be republished (dry run, nothing sent)")
        return
    typer.echo(
        f"{window}: republished {outcome.republished}: {outcome.stored} stored again, "
        f"{outcome.duplicates} duplicate(s) the server already had"
    )


_SERVICE_OPTION = typer.Option(..., help="planning, evidence, assessment or ekinerja-sync: without a database "
                                         "URL, data/db/<service>.db is used")
_DATABASE_OPTION = typer.Option(None, envvar="KINERJA_DATABASE_URL", help="the service's database")


def _with_database(service: str, database_url: str | None, work):
    try:
        url = resolve_database_url(service, database_url)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None

    async def run():
        engine = make_engine(url)
        try:
            return await work(make_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@cli.command("parked")
def parked_command(service: str = _SERVICE_OPTION, database_url: str | None = _DATABASE_OPTION) -> None:
    """List the rows the relay parked (NATS could not take them), oldest first, with the reason."""
    rows = _with_database(service, database_url, list_parked)
    for row in rows:
        typer.echo(f"{row.event_id}  {row.event_type}  {row.subject}  {row.size} chars  "
                   f"parked {row.parked_at.isoformat(timespec='seconds')}  {row.reason}")
    typer.echo(f"{service}: {len(rows)} parked event(s)")


@cli.command("unpark")
def unpark_command(
    service: str = _SERVICE_OPTION,
    event_id: list[str] = typer.Option(None, "--event-id", help="a parked event's id (repeat for more)"),
    all_rows: bool = typer.Option(False, "--all", help="every parked event"),
    database_url: str | None = _DATABASE_OPTION,
) -> None:
    """Put parked rows back in line: the running relay publishes them at its next poll."""
    if bool(event_id) == all_rows:
        raise typer.BadParameter("give --event-id (one or more) or --all")
    count = _with_database(service, database_url, lambda sf: unpark(sf, None if all_rows else list(event_id)))
    typer.echo(f"{service}: {count} event(s) unparked")
