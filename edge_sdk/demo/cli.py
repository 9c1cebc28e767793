"""``edge-sdk demo``: the seek robot loop on one machine, printed for a person and, last, as one JSON line.

stdout: one line per change the subscriber sees, the summary table, and the JSON summary as the last
line. stderr: where to watch it (the dashboard page it serves, the broker's MQTT and WebSocket
addresses), a status line every second, diagnostics, and at the end what to try next. Exit 0 when every published result was
received and no stage failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["register", "run_demo"]


def register(subparsers: Any) -> None:
    """Add ``demo`` to the ``edge-sdk`` command line."""
    demo = subparsers.add_parser(
        "demo", help="the whole loop on one machine: seek video, text commands, MCU simulator, fused inference, MQTT")
    demo.add_argument("--seconds", type=float, default=60.0, help="length of the seek clip and so of the run")
    demo.add_argument("--workdir", default="work/demo", help="where the clip, traces and bundle go")
    demo.add_argument("--model", default="", help="bundle to run (default: the seek bundle shipped with edge_sdk)")
    demo.add_argument("--rebuild-bundle", action="store_true",
                      help="train and convert the seek bundle first (needs TensorFlow; takes minutes)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the seek clip")
    demo.add_argument("--broker", choices=("amqtt", "mosquitto"), default="amqtt",
                      help="amqtt: the runtime's embedded broker (default); mosquitto: a local Mosquitto, to compare")
    demo.add_argument("--min-confidence", type=float, default=0.5,
                      help="a decision drives the motors only at this confidence or more; below it: stop")
    demo.add_argument("--lead", type=float, default=1.5, dest="lead_s",
                      help="seconds between starting the MCU simulator and the video (runtime start-up)")
    demo.add_argument("--dashboard-port", type=int, default=8080,
                      help="HTTP port of the live dashboard (a free one when taken; 0: always a free one)")
    demo.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from edge_sdk.demo.session import DemoOptions, SeekDemo
    from edge_sdk.errors import ConfigError

    if args.model and not Path(args.model).is_file():
        raise ConfigError(f"--model: bundle not found: {args.model}")
    started_s = time.monotonic()
    console = _Console(sys.stdout, sys.stderr)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model = args.model
    if args.rebuild_bundle:
        model = str(workdir / "seek_int8.tflite")
        console.note(f"edge-sdk demo: building the seek bundle into {model} (training; this takes a while)")
        command = [sys.executable, "-m", "edge_sdk.cli", "build-seek-bundle", "--out", model,
                   "--workdir", str(workdir / "seek-training")]
        if subprocess.run(command, check=False, stdout=sys.stderr).returncode != 0:
            console.note("edge-sdk demo: building the bundle failed")
            return 1
    options = DemoOptions(seconds=args.seconds, workdir=workdir, model_path=model, seed=args.seed, lead_s=args.lead_s,
                          broker=args.broker, min_confidence=args.min_confidence, dashboard_port=args.dashboard_port)
    demo = SeekDemo(options, on_change=console.change, on_progress=console.progress,
                    on_ready=lambda where: console.note(_watch_lines(where)))
    console.note(f"edge-sdk demo: {options.seconds:.0f} s seek clip in {workdir}; MCU simulator on a pty; "
                 f"{'embedded amqtt' if options.broker == 'amqtt' else 'local Mosquitto'} broker; model {model or 'shipped seek_int8'}")
    summary = demo.run()
    summary["total_s"] = round(time.monotonic() - started_s, 1)
    console.end_status()
    print(_table(summary), file=sys.stdout)
    confusion = summary.pop("confusion", {})
    summary["confusion"] = confusion  # kept, but after the headline numbers
    print(json.dumps(summary), file=sys.stdout, flush=True)
    console.note(_WHAT_NEXT)
    if summary["error"]:
        console.note(f"edge-sdk demo: a stage failed: {summary['error']}")
        return 1
    if summary["published"] != summary["received"] or summary["published"] == 0:
        console.note(f"edge-sdk demo: published {summary['published']} but received {summary['received']}")
        return 1
    return 0


def _watch_lines(where: Any) -> str:
    host, port = where.broker_url.split("//")[1].rsplit(":", 1)
    return (f"edge-sdk demo: watch it live: dashboard {where.dashboard_url}\n"
            f"edge-sdk demo: broker {where.broker_url} and {where.broker_ws_url} (MQTT over WebSockets), "
            f"topics {where.topics}; e.g. mosquitto_sub -h {host} -p {port} -t '{where.topics}' -v")


_WHAT_NEXT = """what next:
  your camera:       while sleep 0.2; do echo '{"distance_cm": 80}'; done | edge-sdk run --source camera://0
                     --prompt 'find the red circle' --sensor stdin --stdout   (the same model: it also takes text
                     and a distance reading; results on an embedded broker, dashboard: edge-sdk dashboard)
  your own data:     edge-sdk train --manifest your.csv -o work/mine, then edge-sdk convert work/mine --manifest
                     your.csv -o work/mine/bundles   (host extras: pip install 'edge-fusion-sdk[host]'; README "What is in the box")
  your own .tflite:  edge-sdk wrap model.tflite --spec model.yaml -o bundle.tflite, then edge-sdk run --model
                     bundle.tflite --source camera://0   (docs/bring-your-own-model.md)"""


class _Console:
    """Change lines on stdout, a status line on stderr (rewritten in place on a terminal)."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self._out, self._err = out, err
        self._tty = err.isatty()
        self._lock = threading.Lock()
        self._status_shown = False
        self._t0: float | None = None

    def note(self, text: str) -> None:
        with self._lock:
            self._clear()
            print(text, file=self._err, flush=True)

    def change(self, receipt: Any) -> None:
        header = None
        if self._t0 is None:
            self._t0 = receipt.frame_ts
            header = "subscriber (one line per change): video time, decision, confidence, distance, command, latency"
        distance = f"{receipt.distance_cm:5.1f} cm" if receipt.distance_cm is not None else "   -    "
        line = (f"{receipt.frame_ts - self._t0:6.1f}s  {receipt.label or '-':<8} {receipt.confidence:4.2f}  "
                f"{distance}  {receipt.text or ''!r}  ({receipt.latency_ms:.0f} ms)")
        with self._lock:
            self._clear()
            if header:
                print(header, file=self._out)
            print(line, file=self._out, flush=True)

    def progress(self, p: Any) -> None:
        motors = " ".join(f"{k.removeprefix('motor_')}={v}" for k, v in sorted(p.motors.items()) if k.startswith("motor"))
        text = (f"[{min(p.elapsed_s, p.seconds):4.0f}/{p.seconds:.0f} s] results {p.results}  {p.fps:4.1f} fps  "
                f"received {p.received}  commands acked {p.commands_acked}  action {p.action or '-'}  {motors}")
        with self._lock:
            if self._tty:
                self._err.write("\r\x1b[K" + text)
                self._err.flush()
                self._status_shown = True
            else:
                print(text, file=self._err, flush=True)

    def end_status(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        if self._status_shown:
            self._err.write("\r\x1b[K")
            self._err.flush()
            self._status_shown = False


def _table(s: dict[str, Any]) -> str:
    def ms(value: Any) -> str:
        return "-" if value is None else f"{value} ms"

    rows = [
        ("results published", s["published"]),
        ("results received", s["received"]),
        ("accuracy vs ground truth", "-" if s["accuracy"] is None else f"{s['accuracy']:.1%} of {s['scored']} frames"),
        ("fps", s["fps"]),
        ("latency p50 / p99 (capture to subscriber)", f"{ms(s['latency_p50_ms'])} / {ms(s['latency_p99_ms'])}"),
        ("invoke p50", ms(s["invoke_p50_ms"])),
        ("motor commands sent / acked by the MCU", f"{s['commands_sent']} / {s['commands_acked']}"),
        ("actuator changes applied by the MCU", s["mcu_actuator_changes"]),
        ("safe stops", s["safe_stops"]),
        ("sensor frames over serial", s["sensor_frames"]),
        ("frames read / dropped (late)", f"{s['frames_read']} / {s['frames_dropped']}"),
        ("total time", f"{s['total_s']} s"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["", "seek demo summary", "-" * (width + 24)]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_sdk.demo.cli``: the same command without the rest of ``edge-sdk``."""
    import logging

    parser = argparse.ArgumentParser(prog="edge-sdk demo")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["demo", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from edge_sdk.errors import BundleError, ConfigError, EdgeSDKError

    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 0
    except (ConfigError, BundleError) as exc:
        print(f"edge-sdk demo: {exc}", file=sys.stderr)
        return 2
    except EdgeSDKError as exc:
        print(f"edge-sdk demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
