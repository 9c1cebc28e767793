"""What a benchmark's JSON records about where it ran: package versions and the commit."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = ["commit", "versions"]

ROOT = Path(__file__).resolve().parent.parent


def versions(packages: tuple[str, ...] = ("tensorflow", "keras", "ai-edge-litert")) -> dict[str, str]:
    """Python, numpy and each of ``packages`` that is installed."""
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def commit() -> str:
    """The short HEAD, ``-dirty`` when tracked files changed; ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
