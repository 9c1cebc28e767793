"""Load a candidate bundle in a second Python interpreter and run its golden vectors there.

A model that crashes the interpreter on load (a bad op, a corrupt buffer the checks missed) kills
that child, not the device's running pipeline. ``python -m edge_sdk.update.probe BUNDLE`` prints
one JSON line and exits 0 when every golden vector passes, 3 when one fails.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from edge_sdk.update.errors import GoldenCheckError

__all__ = ["probe_bundle"]


def probe_bundle(path: str | Path, *, runtime: str | None = None, signature: str | None = None,
                 xnnpack: bool | None = None, timeout_s: float = 60.0) -> int:
    """The number of golden vectors that pass in a child interpreter; :class:`GoldenCheckError` otherwise."""
    command = [sys.executable, "-m", "edge_sdk.update.probe", str(path)]
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_sdk.update.probe")
    parser.add_argument("bundle")
    parser.add_argument("--runtime")
    parser.add_argument("--signature")
    parser.add_argument("--xnnpack", choices=("on", "off"))
    args = parser.parse_args(argv)
    from edge_sdk.errors import EdgeSDKError
    from edge_sdk.model import FusionModel

    xnnpack = None if args.xnnpack is None else args.xnnpack == "on"
    try:
        with FusionModel.from_bundle(args.bundle, runtime=args.runtime, signature=args.signature,
                                     xnnpack=xnnpack) as model:
            passed = len(model.manifest.golden)
            if not passed:
                raise GoldenCheckError("the bundle carries no golden vectors: nothing shows it runs as made")
            print(json.dumps({"ok": True, "golden": passed, "runtime": model.backend.runtime}))
            return 0
    except EdgeSDKError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
        return 3


if __name__ == "__main__":
    sys.exit(main())
