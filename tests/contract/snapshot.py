"""Write the released-contract baseline: python tests/contract/snapshot.py

Run it only when releasing new contract versions: the baseline is what downstream systems
were promised, and test_contracts checks that no later change breaks it.
"""

import json
from pathlib import Path

from kinerja_shared.events import registered_contracts

BASELINE = Path(__file__).with_name("baseline.json")


def current_schemas() -> dict[str, dict]:
    return {
        f"{c.event_type()}@v{c.version}": c.model_json_schema(mode="serialization")
        for c in registered_contracts()
    }


if __name__ == "__main__":
    existing = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    for key, schema in current_schemas().items():
        existing.setdefault(key, schema)  # released versions are never rewritten
    BASELINE.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    print(f"baseline has {len(existing)} contracts")
