"""``edge-sdk keygen``, ``sign``, ``serve-models`` and ``rollout``: the host side of model updates.

Registered by ``edge_sdk.cli``. A bad key, bundle or argument exits 2 with one line; a rollout that
stops because a wave failed exits 1; data (the rollout's summary) goes to stdout as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    keygen = subparsers.add_parser("keygen", help="make an Ed25519 key pair for signing model updates")
    keygen.add_argument("--out", "-o", required=True,
                        help="path stem: writes STEM.key (private, mode 0600; keep it off the devices) and STEM.pub")
    keygen.set_defaults(func=_cmd_keygen)

    sign = subparsers.add_parser("sign", help="sign a bundle for over-the-air update: writes BUNDLE.update.json")
    sign.add_argument("bundle", help="the model bundle")
    sign.add_argument("--key", "-k", required=True, help="the private key from `edge-sdk keygen`")
    sign.add_argument("--version", type=int, dest="update_version",
                      help="the update's version, an integer above every one before (default: the bundle's "
                           "model version when it is an integer)")
    sign.add_argument("--expires-days", type=float, default=30.0, help="days the signature stays valid (default: 30)")
    sign.add_argument("--out", help="where to write the document (default: BUNDLE.update.json)")
    sign.set_defaults(func=_cmd_sign)

    serve = subparsers.add_parser("serve-models", help="serve bundles and their update documents over HTTP (LAN)")
    serve.add_argument("directory", help="the directory whose files are served (no listing, no subdirectories)")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000; 0: a free one)")
    serve.set_defaults(func=_cmd_serve)

    rollout = subparsers.add_parser("rollout", help="publish a signed update to a fleet in waves; stop when a "
                                                    "wave's failure share passes a threshold")
    rollout.add_argument("bundle", help="the signed bundle (its BUNDLE.update.json beside it)")
    rollout.add_argument("--devices", required=True,
                         help="device ids, comma-separated, or @FILE with one a line; the order sets the waves")
    rollout.add_argument("--url", required=True,
                         help="where devices fetch it: http://host:port/NAME (serve-models), a path on the "
                              "devices, or mqtt (chunks over the broker)")
    rollout.add_argument("--mqtt-host", default="127.0.0.1", help="the fleet's broker (default: 127.0.0.1)")
    rollout.add_argument("--mqtt-port", type=int, default=1883, help="its TCP port (default: 1883)")
    rollout.add_argument("--prefix", default="edge_sdk", help="topic prefix (default: edge_sdk)")
    rollout.add_argument("--canary", type=int, default=1, help="devices in the first wave (default: 1)")
    rollout.add_argument("--growth", type=float, default=2.0, help="each wave this many times the last (default: 2)")
    rollout.add_argument("--max-failure-share", type=float, default=0.0,
                         help="stop when a wave's failed share is above this (default: 0: any failure stops it)")
    rollout.add_argument("--wave-timeout-s", type=float, default=300.0,
                         help="a device with no verdict by then counts as failed (default: 300)")
    rollout.set_defaults(func=_cmd_rollout)


def _cmd_keygen(args: argparse.Namespace) -> int:
    from edge_sdk.update.keys import generate_key

    stem = Path(args.out)
    private, public = stem.with_name(stem.name + ".key"), stem.with_name(stem.name + ".pub")
    for path in (private, public):
        if path.exists():
            print(f"edge-sdk keygen: {path} exists; not overwriting a key", file=sys.stderr)
            return 2
    key = generate_key()
    key.write(private, public)
    print(f"wrote {private} (private: keep it on the signing host) and {public} (trusted by devices: "
          f"update.trusted_keys), key id {key.public.keyid}")
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from edge_sdk.bundle import read_bundle
    from edge_sdk.update.document import sign_bundle
    from edge_sdk.update.errors import UpdateError
    from edge_sdk.update.keys import SigningKey

    try:
        key = SigningKey.from_file(args.key)
        manifest = read_bundle(args.bundle).manifest
        if not manifest.golden:  # refused here, not by every device of a rollout
            print(f"edge-sdk sign: {args.bundle} carries no golden vectors, and devices refuse an update with nothing "
                  "to show it runs as made. Expected a bundle from edge-sdk convert or edge-sdk wrap (both record "
                  "them for image models)", file=sys.stderr)
            return 2
        version = args.update_version
        if version is None:
            declared = manifest.model.version
            if not declared.isdigit() or int(declared) < 1:
                print(f"edge-sdk sign: the bundle's model version is {declared!r}, not an integer; pass --version N",
                      file=sys.stderr)
                return 2
            version = int(declared)
        if version < 1 or args.expires_days <= 0:
            print(f"edge-sdk sign: expected --version >= 1 and --expires-days > 0. Got: {version}, "
                  f"{args.expires_days}", file=sys.stderr)
            return 2
        path, document = sign_bundle(args.bundle, key, version, expires_in_s=args.expires_days * 86400.0, out=args.out)
    except UpdateError as exc:
        print(f"edge-sdk sign: {exc}", file=sys.stderr)
        return 2
    info = document.info
    print(f"wrote {path}: {info.model} v{info.version}, {info.size} bytes, sha256 {info.sha256[:16]}…, "
          f"expires {info.expires:%Y-%m-%dT%H:%M:%SZ}, key {key.public.keyid[:16]}…")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from edge_sdk.update.serve import ModelServer

    try:
        server = ModelServer(args.directory, args.host, args.port)
    except OSError as exc:
        print(f"edge-sdk serve-models: {exc}", file=sys.stderr)
        return 2
    print(f"edge-sdk serve-models: serving {server.root} on http://{args.host}:{server.port}/", file=sys.stderr,
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _cmd_rollout(args: argparse.Namespace) -> int:
    from edge_sdk.update.document import SignedUpdate, document_path
    from edge_sdk.update.errors import UpdateError
    from edge_sdk.update.rollout import Rollout

    try:
        document = SignedUpdate.from_file(document_path(args.bundle))
        info = document.info
    except UpdateError as exc:
        print(f"edge-sdk rollout: {exc}", file=sys.stderr)
        return 2
    devices = _devices(args.devices)
    if not devices:
        print("edge-sdk rollout: --devices names no device", file=sys.stderr)
        return 2
    try:
        rollout = Rollout(args.mqtt_host, args.mqtt_port, document.to_dict(), args.url, devices, prefix=args.prefix,
                          canary=args.canary, growth=args.growth, max_failure_share=args.max_failure_share,
                          wave_timeout_s=args.wave_timeout_s, bundle_path=args.bundle if args.url == "mqtt" else None)
    except ValueError as exc:
        print(f"edge-sdk rollout: {exc}", file=sys.stderr)
        return 2
    print(f"edge-sdk rollout: {info.model} v{info.version} to {len(devices)} devices in {len(rollout.waves)} waves "
          f"({', '.join(str(len(w)) for w in rollout.waves)})", file=sys.stderr, flush=True)
    try:
        result = rollout.run()
    except OSError as exc:
        print(f"edge-sdk rollout: cannot reach the broker {args.mqtt_host}:{args.mqtt_port}: {exc}", file=sys.stderr)
        return 1
    for number, wave in enumerate(result.waves, 1):
        failed = ", ".join(f"{d} ({code})" for d, code in wave.failed.items()) or "none"
        print(f"edge-sdk rollout: wave {number}: {len(wave.committed)}/{len(wave.devices)} committed in "
              f"{wave.seconds:.1f} s; failed: {failed}", file=sys.stderr)
    print(json.dumps(result.to_dict()))
    if result.stopped_after_wave is not None:
        print(f"edge-sdk rollout: stopped after wave {result.stopped_after_wave} of {result.planned_waves}: its "
              f"failure share passed {args.max_failure_share:.0%}", file=sys.stderr)
        return 1
    return 0


def _devices(spec: str) -> list[str]:
    if spec.startswith("@"):
        lines = Path(spec[1:]).read_text().splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [part.strip() for part in spec.split(",") if part.strip()]
