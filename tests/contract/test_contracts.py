"""Contract tests: the committed AsyncAPI is current, and no released contract changed
incompatibly (a field removed or retyped, a new required field, a version gone)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from kinerja_shared.catalog import render

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("snapshot", Path(__file__).with_name("snapshot.py"))
snapshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(snapshot)


def test_committed_asyncapi_is_current():
    committed = (ROOT / "docs" / "asyncapi.yaml").read_text()
    assert committed == render(), (
        "docs/asyncapi.yaml is stale: run `make asyncapi` and commit the result"
    )


def _resolve(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return root.get("$defs", {}).get(name, {})
    return schema


def _type_of(prop: dict, root: dict) -> str:
    prop = _resolve(prop, root)
    if "anyOf" in prop:
        return "|".join(sorted(_type_of(p, root) for p in prop["anyOf"]))
    if "enum" in prop:
        return "enum:" + ",".join(map(str, prop["enum"]))
    if "const" in prop:
        return "enum:" + str(prop["const"])
    if prop.get("type") == "array":
        return "array<" + _type_of(prop.get("items", {}), root) + ">"
    if prop.get("type") == "object" or "properties" in prop:
        return "object"
    return f"{prop.get('type')}:{prop.get('format', '')}"


def incompatibilities(old: dict, new: dict, path: str = "") -> list[str]:
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{path}{name}: removed")
            continue
        old_t, new_t = _type_of(old_prop, old), _type_of(new_props[name], new)
        if old_t.startswith("enum:") and new_t.startswith("enum:"):
            if not set(old_t[5:].split(",")) <= set(new_t[5:].split(",")):
                problems.append(f"{path}{name}: enum values removed")
        elif old_t != new_t:
            problems.append(f"{path}{name}: type {old_t} -> {new_t}")
        resolved_old, resolved_new = _resolve(old_prop, old), _resolve(new_props[name], new)
        if "properties" in resolved_old:
            merged_old = {**resolved_old, "$defs": old.get("$defs", {})}
            merged_new = {**resolved_new, "$defs": new.get("$defs", {})}
            problems += incompatibilities(merged_old, merged_new, f"{path}{name}.")
    added_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(added_required):
        problems.append(f"{path}{name}: new required field")
    return problems


def test_released_contracts_are_not_broken():
    baseline = json.loads(snapshot.BASELINE.read_text())
    current = snapshot.current_schemas()
    problems = []
    for key, old in baseline.items():
        if key not in current:
            problems.append(f"{key}: released contract version removed")
            continue
        problems += [f"{key}: {p}" for p in incompatibilities(old, current[key])]
    assert problems == [], "incompatible contract changes (add a new version instead):\n" + "\n".join(problems)


def test_the_checker_catches_breaking_changes():
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    new = {"properties": {"a": {"type": "integer"}, "c": {"type": "string"}}, "required": ["a", "c"]}
    assert incompatibilities(old, new) == [
        "a: type string: -> integer:",
        "b: removed",
        "c: new required field",
    ]


def test_every_contract_is_in_the_baseline():
    baseline = json.loads(snapshot.BASELINE.read_text())
    missing = sorted(set(snapshot.current_schemas()) - set(baseline))
    assert missing == [], f"new contracts not in the baseline: run tests/contract/snapshot.py: {missing}"


def test_committed_openapi_documents_are_current():
    spec = importlib.util.spec_from_file_location("openapi_docs", Path(__file__).with_name("openapi_docs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.documents().items():
        committed = (ROOT / "docs" / "openapi" / f"{name}.json").read_text()
        assert committed == text, f"docs/openapi/{name}.json is stale: run `make docs` and commit"
