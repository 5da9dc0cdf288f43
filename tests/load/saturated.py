"""Run a command while every CPU is kept busy, to hunt races that only show under load.

    python tests/load/saturated.py [--busy N] -- pytest services shared/tests -m "not e2e"

Starts N processes (default: one per CPU) that spin for the command's whole run, bounded by
the command's own life; prints the load average before and after, and exits with the
command's exit code. CI runs the service integration suites once this way (``make test-load``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time


def _spin() -> None:
    while True:
        sum(i * i for i in range(10_000))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    started = time.monotonic()
    print(f"saturated: {args.busy} busy processes, load before {os.getloadavg()}", flush=True)
    try:
        return subprocess.call(command)
    finally:
        for p in spinners:
            p.kill()
        print(f"saturated: load at the end {os.getloadavg()}, {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
