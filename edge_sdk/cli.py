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
import os
import sys
from collections.abc import Sequence
from typing import Any

from edge_sdk.distribution import DISTRIBUTION, version
from edge_sdk.errors import (
    BundleError,
    ConfigError,
    EdgeSDKError,
    InputError,
    MissingDependencyError,
    MissingOpError,
    ModelFormatError,
)

__all__ = ["console_main", "main"]

_log = logging.getLogger("edge_sdk.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-sdk", description="Multimodal fusion models from Keras to a Raspberry Pi and into the world."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()} ({DISTRIBUTION})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # One convention for every command, the registered ones too: -v also after the command name
    # (counted with any before it, in main), a file to read given as --config FILE.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, dest="command_verbose",
                        help="more logging on stderr (-vv: debug); also accepted before the command")
    add_parser = sub.add_parser

    def add_command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if kwargs.get("add_help", True):  # not bridge: it parses its own options
            kwargs["parents"] = [common, *kwargs.get("parents", ())]
        return add_parser(name, **kwargs)

    sub.add_parser = add_command  # type: ignore[method-assign]

    run = sub.add_parser("run", help="run fused inference from a device config and publish results")
    run.add_argument("--config", "-c", help="device YAML/JSON config; without it, --source gives the camera and the rest is defaults")
    run.add_argument("--model", help="override model.path")
    run.add_argument("--source", help="override camera.source (camera://0, file://clip.mp4, images://folder, rtsp://...)")
    run.add_argument("--prompt", help="override the text with a fixed prompt")
    run.add_argument("--sensor", choices=("stdin", "mqtt"), help="override sensor.source: JSON readings such as "
                     '{"distance_cm": 80} on stdin, one a line, or on the <device>/cmd/sensor topic')
    run.add_argument("--max-frames", type=int, help="stop after this many results")
    run.add_argument("--stdout", action="store_true", help="also write results to stdout as JSON lines")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("validate-config", help="check a device config and what it names: model, sources, "
                                                    "devices, serial port (no network); errors carry line numbers")
    check.add_argument("--config", "-c", help="device YAML/JSON config to check")
    check.add_argument("config_file", nargs="?", metavar="FILE", help="deprecated: the same as --config FILE")
    check.add_argument("--no-devices", action="store_true",
                       help="leave out this machine's cameras and serial ports: for a config meant for another device")
    check.add_argument("--allow-unset-env", action="store_true",
                       help="check a config whose ${VAR} secrets are set on the device only: unset ones stand in, "
                            "with a warning naming them (as `edge-sdk deploy` does)")
    check.set_defaults(func=_cmd_validate_config)

    info = sub.add_parser("info", help="print a model bundle's manifest: inputs, outputs, parity, goldens")
    info.add_argument("model", help="the bundle: a .tflite with its edge_sdk manifest")
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
    bridge.add_argument("args", nargs=argparse.REMAINDER, help="the bridge's own command and options: "
                                                             "edge-sdk bridge --help")
    bridge.set_defaults(func=_cmd_bridge)

    from edge_sdk.dashboard.cli import register as register_dashboard
    from edge_sdk.deploy.cli import register as register_deploy
    from edge_sdk.describe.cli import register as register_describe
    from edge_sdk.index.cli import register as register_search
    from edge_sdk.sources.cli import register as register_cameras
    from edge_sdk.update.cli import register as register_updates

    register_cameras(sub)
    register_dashboard(sub)
    register_deploy(sub)
    register_describe(sub)  # caption, translate
    register_search(sub)
    register_updates(sub)  # keygen, sign, serve-models, rollout

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
    level = logging.WARNING - 10 * min(args.verbose + getattr(args, "command_verbose", 0), 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 0
    except (ConfigError, BundleError, InputError, MissingDependencyError, MissingOpError, ModelFormatError) as exc:
        print(f"edge-sdk {args.command}: {exc}", file=sys.stderr)
        return 2
    except EdgeSDKError as exc:
        print(f"edge-sdk {args.command}: {exc}", file=sys.stderr)
        return 1


def console_main() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `edge-sdk caption clip.mp4 --json | head`: the reader left, which is not an error
        # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


# -- device commands ------------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace) -> int:
    from edge_sdk.runtime import Runtime, check_config
    from edge_sdk.sinks.mqtt.outbox import OutboxInUseError

    config = _run_config(args)
    check_config(config)
    try:
        runtime = Runtime(config)
    except OutboxInUseError as exc:  # a second run for the same device: a setup problem, not a failed run
        print(f"edge-sdk run: {exc}", file=sys.stderr)
        return 2
    with runtime:
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
    if args.sensor:
        section("sensor")["source"] = args.sensor
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
    from edge_sdk.pipeline.summary import describe_inputs, describe_published, describe_sinks

    parts = [f"results={summary.get('results')}", describe_published(summary), f"fps={summary.get('fps')}"]
    for stage in ("capture", "preprocess", "invoke", "publish"):
        if stage in stages:
            parts.append(f"{stage}_p50={stages[stage]['p50_ms']}ms")
    parts.append(f"drops={summary.get('drops')}")
    line = "edge-sdk run: " + " ".join(parts)
    drops, capture = summary.get("drops") or {}, summary.get("capture") or {}
    if capture:  # every frame accounted for: the four add up to what the source gave
        seen = capture.get("frames_read", 0) + capture.get("frames_skipped", 0)
        line += (f"\nedge-sdk run: frames {seen} = {summary.get('results')} processed + {drops.get('frames', 0)} "
                 f"dropped (inference busy) + {capture.get('frames_skipped', 0)} skipped by realtime pacing + "
                 f"{drops.get('incomplete_inputs', 0)} with incomplete inputs")
        if drops.get("max_fps"):
            line += f" + {drops['max_fps']} over pipeline.max_fps"
        if drops.get("gated"):  # a generate bundle describes only the frames that are due (describe section)
            line += f" + {drops['gated']} not due for a description"
        unread = (summary.get("queues") or {}).get("frames", 0)
        if unread:
            line += f" + {unread} read but not taken before the run stopped"
    if summary.get("mqtt"):  # published means handed to the outbox; say what reached the broker
        from edge_sdk.sinks.mqtt.report import describe_delivery

        line += "\nedge-sdk run: mqtt " + describe_delivery(summary["mqtt"])
    inputs = describe_inputs(summary)
    if inputs:
        line += "\nedge-sdk run: inputs " + inputs
    for sink_line in describe_sinks(summary):
        line += "\nedge-sdk run: " + sink_line
    return line


def _cmd_validate_config(args: argparse.Namespace) -> int:
    """The config, then what it names (model, sources, devices, serial port; no network): exit 2 on a problem.

    Strict about unset ``${VAR}`` by default, as ``edge-sdk run`` loads the file; ``--allow-unset-env``
    as ``edge-sdk deploy`` does, for secrets set on the device only.
    """
    from edge_sdk.checks import check_config_file
    from edge_sdk.configtools import unset_env_allowed

    if args.config_file is not None:
        if args.config is not None:
            raise ConfigError(f"two configs: --config {args.config} and {args.config_file}. Expected one: --config FILE")
        print("edge-sdk validate-config: a positional FILE is deprecated; use --config FILE, as run and deploy do",
              file=sys.stderr)
    path = args.config if args.config is not None else args.config_file
    if path is None:
        raise ConfigError("expected --config FILE: the device config to check")
    unset: list[str] = []
    if args.allow_unset_env:
        with unset_env_allowed() as unset:
            config, problems = check_config_file(path, devices=not args.no_devices)
    else:
        try:
            config, problems = check_config_file(path, devices=not args.no_devices)
        except ConfigError as exc:
            if "is not set (referenced as" not in str(exc):
                raise
            raise ConfigError(f"{exc}. Set it, or pass --allow-unset-env when the secrets are set on the device "
                              "only") from None
    for problem in problems:
        print(f"edge-sdk validate-config: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(f"{path}: ok (device {config.device!r}, camera {config.camera.source}, "
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


