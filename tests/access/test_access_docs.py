"""The who-may-do-what table of docs/api.md is the rules, and every operation of every service
says which rule guards it (x-kinerja-action), in the apps and in the committed documents."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from kinerja_shared import access

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("openapi_docs", ROOT / "tests" / "contract" / "openapi_docs.py")
openapi_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(openapi_docs)


@pytest.fixture(scope="module")
def built() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in openapi_docs.documents().items()}


def _unguarded(document: dict, service: str) -> list[str]:
    problems = []
    for key, action in sorted(openapi_docs.operations(document).items()):
        if openapi_docs.UNGUARDED.match(key):
            continue
        if action is None:
            problems.append(f"{service}: {key} declares no {access.OPENAPI_KEY}")
        elif action not in access.RULES:
            problems.append(f"{service}: {key} declares {action!r}, which has no rule")
    return problems


@pytest.mark.parametrize("service", openapi_docs.GUARDED)
def test_every_operation_declares_a_ruled_action(built, service):
    committed = json.loads((ROOT / "docs" / "openapi" / f"{service}.json").read_text())
    problems = _unguarded(built[service], service) + [
        f"docs/openapi/{service}.json: {p}" for p in _unguarded(committed, service)]
    assert problems == [], "\n".join(problems)


def test_only_health_and_metrics_are_unguarded():
    assert {k for k in ("GET /health/live", "GET /health/ready", "GET /metrics", "GET /v1/plans")
            if openapi_docs.UNGUARDED.match(k)} == {"GET /health/live", "GET /health/ready", "GET /metrics"}


@pytest.mark.parametrize("service", openapi_docs.GUARDED)
def test_the_table_in_api_md_is_the_rules(built, service):
    tables = openapi_docs.tables_in((ROOT / "docs" / "api.md").read_text())
    assert service in tables, f"docs/api.md has no <!-- access-table:{service} --> section"
    assert tables[service] == openapi_docs.access_table(built[service]), (
        f"the {service} table in docs/api.md is not what the rules say: run `make docs` and commit")


def test_make_docs_rewrites_only_the_tables():
    text = "intro\n<!-- access-table:planning -->\n| old |\n|---|\n| `x` |\n\nafter\n"
    table = "| action | guru |\n|---|---|\n| `planning.plan.read` | self |"
    assert openapi_docs.with_tables(text, {"planning": table}) == (
        "intro\n<!-- access-table:planning -->\n" + table + "\n\nafter\n")
    assert openapi_docs.tables_in(openapi_docs.with_tables(text, {"planning": table})) == {"planning": table}
