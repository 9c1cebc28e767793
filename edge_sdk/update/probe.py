"""Load a candidate bundle in a second Python interpreter and run its golden vectors there.

A model that crashes the interpreter on load (a bad op, a corrupt buffer the checks missed) kills
that child, not the device's running pipeline. The child is :mod:`edge_sdk.update.probe_child`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from edge_sdk.update.errors import GoldenCheckError

__all__ = ["probe_bundle"]


def probe_bundle(path: str | Path, *, runtime: str | None = None, signature: str | None = None,
                 xnnpack: bool | None = None, timeout_s: float = 60.0) -> int:
    """The number of golden vectors that pass in a child interpreter; :class:`GoldenCheckError` otherwise."""
    command = [sys.executable, "-m", "edge_sdk.update.probe_child", str(path)]
    if runtime:
        command += ["--runtime", runtime]
    if signature:
        command += ["--signature", signature]
    if xnnpack is not None:
        command += ["--xnnpack", "on" if xnnpack else "off"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise GoldenCheckError(f"loading the candidate and running its goldens took over {timeout_s:.0f} s") from None
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise GoldenCheckError(f"the candidate killed the interpreter that loaded it ({name})")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    if done.returncode != 0 or not report.get("ok"):
        reason = report.get("error") or (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise GoldenCheckError(f"the candidate fails its golden vectors: {reason}")
    return int(report.get("golden", 0))
