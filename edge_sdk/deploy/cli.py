"""``edge-sdk deploy``: build what goes on a Raspberry Pi. Registered by ``edge_sdk.cli``.

Errors are raised as edge_sdk errors (``ConfigError``, ``BundleError``), which ``edge_sdk.cli.main``
turns into exit code 2 with a one-line cause; this handler prints only the outcome.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from edge_sdk.deploy.options import DeployOptions

__all__ = ["cmd_deploy", "register"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``deploy`` to the ``edge-sdk`` sub-commands (an ``argparse`` subparsers action)."""
    defaults = DeployOptions()
    parser = subparsers.add_parser(
        "deploy",
        help="build a Raspberry Pi deployment: bundle, device config, systemd unit and install.sh",
        description="Writes a directory to copy to the Pi and install there with `sudo ./install.sh`. "
        "The options below are this command's; install.sh has its own (`./install.sh --help`: --dry-run, "
        "--root DIR, ...).",
    )
    parser.add_argument("--model", "-m", required=True, help="the model bundle (.tflite with its manifest)")
    parser.add_argument("--config", "-c", required=True, help="device config (YAML or JSON) for `edge-sdk run`")
    parser.add_argument("--out", "-o", required=True, help="output directory (replaced if it holds a deployment)")
    parser.add_argument("--tar", action="store_true", help="also write <out>.tar.gz")
    parser.add_argument("--tflite-runtime", action="store_true",
                        help="install tflite-runtime (numpy<2) instead of ai-edge-litert")
    parser.add_argument("--user", default=defaults.user, help=f"service user (default: {defaults.user})")
    parser.add_argument("--groups", default=",".join(defaults.groups),
                        help=f"supplementary groups, comma-separated (default: {','.join(defaults.groups)})")
    parser.add_argument("--watchdog-s", type=int, default=defaults.watchdog_s,
                        help=f"restart when no result for this long (default: {defaults.watchdog_s})")
    parser.add_argument("--no-notify", action="store_true",
                        help="Type=simple without watchdog, for runtimes that do not speak sd_notify")
    parser.add_argument("--wheel", default="",
                        help="the edge-fusion-sdk wheel to ship and install (default: build one from this source tree)")
    parser.add_argument("--extra-file", action="append", default=[], metavar="FILE",
                        help="copy FILE to /etc/edge-sdk (TLS certificates); repeatable")
    parser.set_defaults(func=cmd_deploy)
    return parser


def cmd_deploy(args: argparse.Namespace) -> int:
    options = DeployOptions(
        user=args.user,
        groups=tuple(g.strip() for g in args.groups.split(",") if g.strip()),
        backend="tflite-runtime" if args.tflite_runtime else "ai-edge-litert",
        notify=not args.no_notify,
        watchdog_s=args.watchdog_s,
        wheel=args.wheel,
        extra_files=tuple(args.extra_file),
        tar=args.tar,
    )
    from edge_sdk.deploy.package import make_deployment, tarball_path  # numpy and the bundle reader: on use

    out = make_deployment(args.model, args.config, args.out, options)
    print(f"wrote {out}/ ({', '.join(sorted(p.name for p in out.iterdir()))})")
    if options.tar:
        print(f"wrote {tarball_path(out)}")
    from edge_sdk.cli import unset_env_warning
    from edge_sdk.deploy.package import MARKER

    secrets = json.loads((out / MARKER).read_text())["secrets"]
    unset = [name for name in secrets if name not in os.environ]
    if unset:
        print(f"edge-sdk deploy: warning: {unset_env_warning(unset)}", file=sys.stderr)
    print("next: copy it to the Pi and run `sudo ./install.sh` there (try `./install.sh --dry-run` first)",
          file=sys.stderr)
    return 0
