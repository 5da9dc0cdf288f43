"""The streamed file import (province-sized, command line) with tiny batches, so every check
crosses batch boundaries. Real NATS JetStream and a real database (SQLite, then PostgreSQL)."""

from __future__ import annotations

from kinerja_shared.auth import Principal

from kinerja_planning.adapters.tables import Person
from kinerja_planning.service_layer.roster_stream import import_roster_path
from planning_harness import HEADER, SampleSchool, new_nip

OPERATOR = Principal(sub="cli", role="sistem")  # the command line's identity


def _file(tmp_path, lines: list[str], encoding: str = "utf-8"):
    path = tmp_path / "province.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


async def test_streamed_import_with_assessors_in_later_batches(planning, tmp_path):
    a, b = SampleSchool(), SampleSchool()
    # Teachers before their kepala sekolah and the pengawas last: assessors come in later batches.
    lines = [HEADER, a.guru_line(0), a.guru_line(1, name="Guru Café"), b.guru_line(0), b.guru_line(1),
             a.ks_line(), b.ks_line(), a.pengawas_line(), b.pengawas_line()]
    path = _file(tmp_path, lines, "cp1252")
    phases: list[str] = []
    result = await import_roster_path(
        planning.runtime.uow, OPERATOR, path, batch_size=2, progress=lambda p, d, t: phases.append(p)
    )
    assert (result.schools, result.people, result.added) == (2, 8, 8)
    assert {"indeks", "periksa", "tulis"} <= set(phases)
    async with planning.runtime.session_factory() as session:
        assert (await session.get(Person, a.guru_nips[1])).name == "Guru Café"
    # Published per batch: A, B, then both with their KS, then both with their pengawas.
    events = await planning.events("planning.roster.imported", n=6, import_id=result.import_id)
    last = {}
    for _, envelope, _ in events:
        last[envelope["payload"]["school"]["npsn"]] = {p["nip"] for p in envelope["payload"]["people"]}
    assert last[a.npsn] == {a.pengawas_nip, a.ks_nip, *a.guru_nips}

    # The same file again writes and publishes nothing.
    outbox = await planning.count_outbox()
    again = await import_roster_path(planning.runtime.uow, OPERATOR, path, batch_size=2)
    assert (again.unchanged, again.published_schools) == (8, 0)
    assert await planning.count_outbox() == outbox


async def test_streamed_import_refuses_the_whole_file_and_reports_every_bad_line(planning, tmp_path):
    a = SampleSchool()
    stray = new_nip()
    lines = [
        HEADER, a.pengawas_line(), a.ks_line(), a.guru_line(0),
        a.guru_line(1).replace(a.ks_nip, a.guru_nips[0]),  # line 5: assessor is a guru (earlier batch)
        a.guru_line(0).replace("Guru 0", "Kembar"),  # line 6: duplicate of line 4, another batch
        a.guru_line(1).replace(a.guru_nips[1], stray).replace(a.ks_nip, new_nip()),  # line 7: unknown assessor
        a.guru_line(1).replace(a.guru_nips[1], new_nip()).replace(f"{a.npsn},{a.name},", "29999996,,"),  # line 8
    ]
    before = await planning.counts()
    try:
        await import_roster_path(planning.runtime.uow, OPERATOR, _file(tmp_path, lines), batch_size=2)
    except Exception as exc:  # noqa: BLE001 - the AppError is checked below
        error = exc
    assert getattr(error, "code", None) == "roster_tidak_valid"
    by_line = {d["line"]: d["problems"] for d in error.details}
    assert sorted(by_line) == [5, 6, 7, 8]
    assert by_line[5] == [f"penilai guru ({a.guru_nips[0]}) harus kepala sekolah dari sekolah yang sama"]
    assert by_line[6] == ["NIP ganda: sudah ada di baris 4"]
    assert "tidak ada di berkas" in by_line[7][0]
    assert "sekolah NPSN 29999996 tidak ada" in by_line[8][0]
    assert await planning.counts() == before

    wrong_header = tmp_path / "wrong.csv"
    wrong_header.write_text("nip,nama\n1,2\n")
    try:
        await import_roster_path(planning.runtime.uow, OPERATOR, wrong_header)
    except Exception as exc:  # noqa: BLE001
        error = exc
    assert error.details[0]["line"] == 1 and "kolom wajib tidak ada" in error.details[0]["problems"][0]
    assert await planning.counts() == before


async def test_lookups_on_postgresql_take_one_array_parameter(planning, tmp_path):
    """A prepared IN list of up to a thousand parameters gets a cached generic plan that scans
    the whole table once it has grown (the province import slowed down as it filled); on
    PostgreSQL every lookup by key is ``= ANY($1)`` with one array, whatever its size."""
    from sqlalchemy import event

    schools = [SampleSchool() for _ in range(3)]
    lines = [HEADER] + [line for s in schools for line in (s.pengawas_line(), s.ks_line(), s.guru_line(0), s.guru_line(1))]
    engine = planning.runtime.engine.sync_engine
    selects: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "planning_" in statement:
            selects.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        result = await import_roster_path(planning.runtime.uow, OPERATOR, _file(tmp_path, lines), batch_size=5)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert result.added == 12
    lookups = [s for s, _ in selects if " IN (" in s.upper() or "ANY" in s.upper()]
    assert lookups  # people, schools, assessors and the published rosters were looked up
    if engine.dialect.name == "postgresql":
        assert all(" IN (" not in s.upper() and "= ANY" in s.upper() for s in lookups), lookups
