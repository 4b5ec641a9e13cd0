"""What the benchmarks record beside their figures, shared by every script here."""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from pathlib import Path

__all__ = ["git_commit", "machine"]


def git_commit() -> str:
    """The short hash of the checkout the benchmark ran from ("unknown" outside git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def machine() -> dict[str, str]:
    """CPU, cores, OS, Python, commit and date (UTC): the conditions of a benchmark run."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    return {
        "CPU": cpu,
        "cores": str(len(os.sched_getaffinity(0))),
        "1-min load at start": f"{os.getloadavg()[0]:.2f}",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
