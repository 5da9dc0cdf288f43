"""Write each service's OpenAPI document to docs/openapi/<service>.json, and the who-may-do-what
tables of docs/api.md from the access rules:

    .venv/bin/python tests/contract/openapi_docs.py      (or: make docs)

test_openapi_docs fails when a committed document is stale; tests/access/test_access_docs.py
when a table in docs/api.md is not what the rules say.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "openapi"
API_MD = ROOT / "docs" / "api.md"
# The services whose every operation declares its access action (x-kinerja-action): all four.
GUARDED = ("planning", "assessment", "evidence", "ekinerja-sync")
# Answer everyone (liveness, readiness, metrics).
UNGUARDED = re.compile(r"^GET /(health/(live|ready)|metrics)$")


def documents() -> dict[str, str]:
    from ekinerja_simulator.app import create_app as simulator_app
    from kinerja_assessment.bootstrap import build as assessment
    from kinerja_ekinerja_sync.bootstrap import build as ekinerja_sync
    from kinerja_evidence.bootstrap import build as evidence
    from kinerja_planning.bootstrap import build as planning

    apps = {
        "planning": planning()[1],
        "evidence": evidence()[1],
        "assessment": assessment()[1],
        "ekinerja-sync": ekinerja_sync()[1],
        "ekinerja-simulator": simulator_app(),
    }
    return {name: json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n" for name, app in apps.items()}


def operations(document: dict) -> dict[str, str | None]:
    """"METHOD /path" -> the operation's x-kinerja-action (None when it declares none)."""
    from kinerja_shared.access import OPENAPI_KEY

    return {
        f"{method.upper()} {path}": op.get(OPENAPI_KEY)
        for path, item in document.get("paths", {}).items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


def access_table(document: dict) -> str:
    """The who-may-do-what table of one service: the rules of the actions its operations declare."""
    from kinerja_shared.access import markdown_table

    return markdown_table({a for a in operations(document).values() if a})


def _block(service: str) -> re.Pattern[str]:
    # The marker comment, then the table (its lines start with "|"), up to the first other line.
    return re.compile(rf"(<!-- access-table:{re.escape(service)} -->\n+)((?:\|[^\n]*\n?)*)")


def tables_in(text: str) -> dict[str, str]:
    """The tables docs/api.md has now, by service (absent when the marker is missing)."""
    out = {}
    for service in GUARDED:
        found = _block(service).search(text)
        if found:
            out[service] = found.group(2).rstrip("\n")
    return out


def with_tables(text: str, tables: dict[str, str]) -> str:
    for service, table in tables.items():
        pattern = _block(service)
        if not pattern.search(text):
            raise SystemExit(f"docs/api.md has no <!-- access-table:{service} --> marker: add it where the table goes")
        text = pattern.sub(lambda m: m.group(1) + table + "\n", text, count=1)
    return text


if __name__ == "__main__":
    DOCS.mkdir(parents=True, exist_ok=True)
    texts = documents()
    for name, text in texts.items():
        (DOCS / f"{name}.json").write_text(text)
        print(f"wrote docs/openapi/{name}.json")
    tables = {s: access_table(json.loads(texts[s])) for s in GUARDED}
    API_MD.write_text(with_tables(API_MD.read_text(), tables))
    print("wrote the access tables of docs/api.md")
