import sys
from pathlib import Path

# The embedded stack and the semester driver live in deploy/embedded (they are what
# `make run` and `make demo` use); the end-to-end tests reuse them as they are.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "embedded"))
