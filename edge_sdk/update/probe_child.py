"""The golden-vector probe's child: ``python -m edge_sdk.update.probe_child BUNDLE``, started by
:func:`edge_sdk.update.probe.probe_bundle`, which explains why it exists.

It loads the bundle, runs its golden vectors (the load does) and writes one JSON line to stdout,
its only channel to the parent: ``{"ok": true, "golden": N, "runtime": ...}`` with exit 0, or
``{"ok": false, "error": ...}`` with exit 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from edge_sdk.update.errors import GoldenCheckError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_sdk.update.probe_child")
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
            _report(ok=True, golden=passed, runtime=model.backend.runtime)
            return 0
    except EdgeSDKError as exc:
        _report(ok=False, error=str(exc))
        return 3


def _report(**fields: object) -> None:
    """The one line the parent reads: this process's stdout is its channel, as a socket is the other children's."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
