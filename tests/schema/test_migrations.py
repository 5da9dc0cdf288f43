"""Each service's Alembic history builds exactly its models' schema, on SQLite and PostgreSQL.

A model changed without a migration fails here: autogenerate's comparison of the migrated
database with the models must find nothing. Replicas upgrading one PostgreSQL database at the
same moment must all succeed (they queue on an advisory lock).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, inspect, text

from kinerja_shared.db import make_engine
from kinerja_shared.migrations import schema_differences, service_metadata, upgrade_database
from kinerja_shared.testing.servers import create_postgres_database, drop_postgres_database

import kinerja_assessment.adapters.tables as assessment
import kinerja_assessment.migrations as assessment_migrations
import kinerja_ekinerja_sync.adapters.tables as ekinerja_sync
import kinerja_ekinerja_sync.migrations as ekinerja_sync_migrations
import kinerja_evidence.adapters.tables as evidence
import kinerja_evidence.migrations as evidence_migrations
import kinerja_planning.adapters.tables as planning
import kinerja_planning.migrations as planning_migrations

SERVICES = {
    "planning": (planning_migrations.LOCATION, planning.TABLES),
    "evidence": (evidence_migrations.LOCATION, evidence.TABLES),
    "assessment": (assessment_migrations.LOCATION, assessment.TABLES),
    "ekinerja-sync": (ekinerja_sync_migrations.LOCATION, ekinerja_sync.TABLES),
}


def _schema(sync_conn) -> dict:
    """Tables, columns, indexes, unique constraints and the recorded revision."""
    insp = inspect(sync_conn)
    tables = {
        name: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(name)),
            sorted((u["name"] or "", tuple(u["column_names"])) for u in insp.get_unique_constraints(name)),
        )
        for name in insp.get_table_names()
    }
    versions = sync_conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return {"tables": tables, "versions": versions}


async def _differences(engine, tables) -> list:
    async with engine.connect() as conn:
        return await conn.run_sync(schema_differences, tables)


@pytest.mark.parametrize("service", SERVICES)
async def test_upgrade_builds_the_models_schema_and_is_idempotent(service, database_url):
    location, tables = SERVICES[service]
    engine = make_engine(database_url)
    try:
        await upgrade_database(engine, location)
        async with engine.connect() as conn:
            first = await conn.run_sync(_schema)
        # Only this service's tables (and the shared outbox and inbox): no other service's.
        assert set(first["tables"]) == set(service_metadata(tables).tables) | {"alembic_version"}
        assert len(first["versions"]) == 1
        assert await _differences(engine, tables) == []

        await upgrade_database(engine, location)  # a second start-up changes nothing
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema) == first
    finally:
        await engine.dispose()


async def test_a_model_change_without_a_migration_is_found(database_url):
    location, tables = SERVICES["planning"]
    engine = make_engine(database_url)
    try:
        await upgrade_database(engine, location)
        changed = MetaData()
        schools = planning.School.__table__.to_metadata(changed)
        schools.append_column(Column("district", Integer, nullable=True))
        new = Table("planning_targets", changed, Column("id", Integer, primary_key=True))
        others = [t for t in tables if t.name != "planning_schools"]
        diffs = await _differences(engine, [*others, schools, new])
        kinds = sorted(d[0] if isinstance(d, tuple) else d[0][0] for d in diffs)
        assert kinds == ["add_column", "add_table"], diffs
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("service", SERVICES)
async def test_replicas_upgrading_one_postgres_database_together_all_succeed(service, postgres_admin):
    location, tables = SERVICES[service]
    url, name = create_postgres_database(postgres_admin)
    engines = [make_engine(url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade_database(engine, location) for engine in engines))
        assert await _differences(engines[0], tables) == []
        async with engines[0].connect() as conn:
            assert len((await conn.execute(text("SELECT version_num FROM alembic_version"))).all()) == 1
    finally:
        for engine in engines:
            await engine.dispose()
        drop_postgres_database(name, postgres_admin)


def test_the_command_line_upgrades_and_checks(database_url, monkeypatch):
    from typer.testing import CliRunner

    from kinerja_shared.migrations import cli

    monkeypatch.setenv("KINERJA_DATABASE_URL", database_url)
    runner = CliRunner()
    for args in (["evidence", "upgrade"], ["evidence", "upgrade"], ["evidence", "check"], ["evidence", "current"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    newest = max(p.name[:4] for p in evidence_migrations.LOCATION.joinpath("versions").glob("0*.py"))
    assert f"{newest} (head)" in runner.invoke(cli, ["evidence", "current"]).output
