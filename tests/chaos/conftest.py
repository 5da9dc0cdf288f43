import sys
from pathlib import Path

# The chaos driver's modules (and, through it, deploy/embedded and bench) import each other by
# their plain names, as they do when `make chaos` runs tests/chaos/chaos_driver.py as a script.
sys.path.insert(0, str(Path(__file__).resolve().parent))
