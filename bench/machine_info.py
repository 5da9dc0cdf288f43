"""What every benchmark JSON records about the machine it ran on: cores, memory, CPU model,
Python, platform, the versions of the packages that matter to it, and how busy the machine was
(it is shared; a load average above the core count means the numbers are lower bounds)."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine(packages: tuple[str, ...] = ()) -> dict:
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "?")
    return {
        "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
        "python": platform.python_version(), "platform": platform.platform(),
        "packages": {p: _version(p) for p in packages},
    }
