"""Write each service's OpenAPI document to docs/openapi/<service>.json:

    .venv/bin/python tests/contract/openapi_docs.py      (or: make docs)

test_openapi_docs fails when a committed document is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi"


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


if __name__ == "__main__":
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, text in documents().items():
        (DOCS / f"{name}.json").write_text(text)
        print(f"wrote docs/openapi/{name}.json")
