"""``edge-sdk``: the one command line of the SDK. A thin ``main(argv) -> int``.

Device commands run on numpy and the device extras. Other packages add commands through the
``edge_sdk.commands`` entry point group (the host toolchain: training, conversion), so a
device-only install simply lacks them; each such command maps its own errors to an exit code.
Data goes to stdout, diagnostics to stderr. Exit codes: 0 success (and on SIGINT/SIGTERM), 1 a run failed, 2 bad config, model or
arguments (with a one-line cause).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from edge_sdk.distribution import DISTRIBUTION, version
from edge_sdk.errors import BundleError, ConfigError, EdgeSDKError, InputError, MissingDependencyError

__all__ = ["console_main", "main"]

_log = logging.getLogger("edge_sdk.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-sdk", description="Multimodal fusion models from Keras to a Raspberry Pi and into the world."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()} ({DISTRIBUTION})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run fused inference from a device config and publish results")
    run.add_argument("--config", "-c", help="device YAML/JSON config; without it, --source gives the camera and the rest is defaults")
    run.add_argument("--model", help="override model.path")
    run.add_argument("--source", help="override camera.source (camera://0, file://clip.mp4, images://folder, rtsp://...)")
    run.add_argument("--prompt", help="override the text with a fixed prompt")
    run.add_argument("--max-frames", type=int, help="stop after this many results")
    run.add_argument("--stdout", action="store_true", help="also write results to stdout as JSON lines")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("validate-config", help="check a device config; errors carry line numbers")
    check.add_argument("config")
    check.add_argument("--allow-unset-env", action="store_true",
                       help="check a config whose ${VAR} secrets are set on the device only: unset ones stand in, "
                            "with a warning naming them (as `edge-sdk deploy` does)")
    check.set_defaults(func=_cmd_validate_config)

    info = sub.add_parser("info", help="print a model bundle's manifest: inputs, outputs, parity, goldens")
    info.add_argument("model")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    info.add_argument("--verify", action="store_true", help="also load it and run its golden vectors")
    info.set_defaults(func=_cmd_info)

    wrap = sub.add_parser("wrap", help="make a bundle from any .tflite by describing its inputs and outputs",
                          epilog="The spec format: docs/bring-your-own-model.md; its reference table: "
                                 "python -m edge_sdk.bundle.specdoc")
    wrap.add_argument("tflite", help="the model: a plain .tflite, with or without TFLite metadata")
    wrap.add_argument("--out", "-o", required=True, help="the bundle to write")
    wrap.add_argument("--spec", required=True,
                      help="YAML/JSON spec: model, inputs (role, name, preprocess), outputs (name, role, labels), task")
    wrap.set_defaults(func=_cmd_wrap)

    bridge = sub.add_parser("bridge", help="serial link to a microcontroller: ports, monitor, send, simulate",
                            add_help=False)
    bridge.add_argument("args", nargs=argparse.REMAINDER)
    bridge.set_defaults(func=_cmd_bridge)

    from edge_sdk.dashboard.cli import register as register_dashboard
    from edge_sdk.deploy.cli import register as register_deploy

    register_dashboard(sub)
    register_deploy(sub)

    from importlib.metadata import entry_points

    for entry in entry_points(group="edge_sdk.commands"):  # the demo's and the host's commands
        entry.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bridge":  # the bridge parses its own options, --help included
        return _cmd_bridge(argparse.Namespace(args=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 0
    except (ConfigError, BundleError, InputError, MissingDependencyError) as exc:
        print(f"edge-sdk {args.command}: {exc}", file=sys.stderr)
        return 2
    except EdgeSDKError as exc:
        print(f"edge-sdk {args.command}: {exc}", file=sys.stderr)
        return 1


def console_main() -> None:
    sys.exit(main())


# -- device commands ------------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace) -> int:
    from edge_sdk.runtime import Runtime, check_config

    config = _run_config(args)
    check_config(config)
    with Runtime(config) as runtime:
        if runtime.broker is not None:
            print(f"edge-sdk run: no broker configured; embedded MQTT broker on mqtt://127.0.0.1:{runtime.broker.port}"
                  f" (subscribe to {config.device} topics under edge_sdk/)", file=sys.stderr)
        summary = runtime.run()
    print(_summary_line(summary), file=sys.stderr)
    return 0


def _run_config(args: argparse.Namespace) -> Any:
    """The config file (or none) with the command line's overrides, validated as one mapping.

    Overrides go into the mapping before it is checked, so ``--source`` alone is a complete camera
    section and a bad override gets the same message as the same value in a file.
    """
    from edge_sdk.config import parse_config, read_config_file

    data, source_text = read_config_file(args.config) if args.config else ({}, None)

    def section(name: str) -> dict[str, Any]:
        value = data.get(name)
        data[name] = dict(value) if isinstance(value, dict) else ({} if value is None else value)
        return data[name]

    if args.model:
        section("model")["path"] = args.model
    if args.source:
        section("camera")["source"] = args.source
    if args.prompt:
        section("text").update(source="fixed", prompt=args.prompt)
    if args.max_frames:
        section("pipeline")["max_frames"] = args.max_frames
    if args.stdout:
        section("output")["stdout_jsonl"] = True
    where = args.config or "command line"
    if not args.config and "camera" not in data:
        from edge_sdk.errors import ConfigError

        raise ConfigError("no camera: pass --config FILE with a camera section, or --source (camera://0, "
                          "file://clip.mp4, images://folder, rtsp://...). The synthetic world with no camera is "
                          "`edge-sdk demo`")
    return parse_config(data, source_text, where)


def _summary_line(summary: dict[str, Any]) -> str:
    stages = summary.get("stages", {})
    parts = [f"results={summary.get('results')}", f"published={summary.get('published')}", f"fps={summary.get('fps')}"]
    for stage in ("capture", "preprocess", "invoke", "publish"):
        if stage in stages:
            parts.append(f"{stage}_p50={stages[stage]['p50_ms']}ms")
    parts.append(f"drops={summary.get('drops')}")
    return "edge-sdk run: " + " ".join(parts)


def _cmd_validate_config(args: argparse.Namespace) -> int:
    """Strict by default, as ``edge-sdk run`` loads the file; ``--allow-unset-env`` as ``edge-sdk deploy`` does."""
    from edge_sdk.config import load_config, parse_config, read_config_file
    from edge_sdk.configtools import unset_env_allowed
    from edge_sdk.runtime import check_config

    unset: list[str] = []
    if args.allow_unset_env:
        data, source_text = read_config_file(args.config)
        with unset_env_allowed() as unset:
            config = parse_config(data, source_text, args.config)
    else:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            if "is not set (referenced as" not in str(exc):
                raise
            raise ConfigError(f"{exc}. Set it, or pass --allow-unset-env when the secrets are set on the device "
                              "only") from None
    check_config(config)
    print(f"{args.config}: ok (device {config.device!r}, camera {config.camera.source}, "
          f"mqtt {'embedded broker' if config.mqtt is None else config.mqtt.host})")
    if unset:
        print(f"edge-sdk validate-config: warning: {unset_env_warning(unset)}", file=sys.stderr)
    return 0


def unset_env_warning(names: Sequence[str]) -> str:
    """What ``validate-config --allow-unset-env`` and ``deploy`` say about secrets unset on this machine."""
    listed = ", ".join(names)
    return (f"{listed} {'is' if len(names) == 1 else 'are'} not set here (checked with a stand-in value); "
            f"set {'it' if len(names) == 1 else 'them'} where the config runs (a Pi installed by `edge-sdk deploy` "
            "reads /etc/edge-sdk/env)")


def _cmd_info(args: argparse.Namespace) -> int:
    from edge_sdk.bundle import read_bundle

    bundle = read_bundle(args.model)
    if args.json:
        print(bundle.manifest.to_json())
    else:
        from edge_sdk.bundle.describe import describe_bundle

        print(describe_bundle(bundle))
    if args.verify:
        from edge_sdk.model import FusionModel

        with FusionModel.from_bundle(bundle) as model:
            print(f"loaded with {model.backend.runtime}: {len(bundle.manifest.golden)} golden vectors pass")
    return 0


def _cmd_wrap(args: argparse.Namespace) -> int:
    from edge_sdk.bundle.wrap import wrap_from_spec_file

    manifest = wrap_from_spec_file(args.tflite, args.out, args.spec)
    print(f"wrote {args.out}: {manifest.model.name} with inputs {[i.name for i in manifest.inputs]}")
    return 0


def _cmd_bridge(args: argparse.Namespace) -> int:
    try:
        from firmware_bridge.tools.cli import main as bridge_main
    except ImportError as exc:
        raise MissingDependencyError(f"the bridge commands need firmware_bridge and pyserial ({exc})") from exc
    return int(bridge_main(list(args.args)))


if __name__ == "__main__":
    sys.exit(main())


