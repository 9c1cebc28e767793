"""Command line: ``edge-sdk bridge <ports|monitor|send|simulate>`` (also ``python -m firmware_bridge``).

Data goes to stdout, diagnostics to stderr. Exit codes: 0 ok (and on Ctrl-C / SIGTERM), 1 the
device failed (no ACK, NACK, link lost), 2 bad arguments or a port that cannot be opened.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from firmware_bridge.config import BridgeConfig, LineModeConfig
from firmware_bridge.errors import (
    BridgeConfigError,
    BridgeError,
    CommandError,
    CommandRejectedError,
    LinkError,
    MissingDependencyError,
)
from firmware_bridge.link.bridge import HOST_HELLO, BridgeLink
from firmware_bridge.link.lineparse import LineParser, LineSplitter
from firmware_bridge.link.ports import list_ports
from firmware_bridge.link.transport import open_port
from firmware_bridge.protocol.decoder import FrameDecoder
from firmware_bridge.protocol.messages import describe, encode_frame
from firmware_bridge.tools.simulator import HostSimulator

__all__ = ["build_parser", "main"]


class _OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit 2, not the usage block (subcommands inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number_type(kind: type, what: str, *, minimum: float, strict: bool) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number. Got: {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what} must be a finite number. Got: {text}")
        if value < minimum or (strict and value == minimum):
            sign = ">" if strict else ">="
            raise argparse.ArgumentTypeError(f"{what} must be {sign} {minimum:g}. Got: {text}")
        return value

    return parse


def _url(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "serial URL must not be empty. Expected a device path or a pyserial URL like loop://"
        )
    return text


_BAUDRATE = _number_type(int, "baudrate", minimum=0, strict=True)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="edge-sdk bridge", description="Serial bridge to a microcontroller."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "ports", help="list serial ports with VID:PID and /dev/serial/by-id names"
    )
    mon = sub.add_parser("monitor", help="print decoded frames live")
    mon.add_argument("url", type=_url, help="device path, /dev/serial/by-id name or pyserial URL")
    mon.add_argument("--baudrate", type=_BAUDRATE, default=115200)
    mon.add_argument(
        "--line-mode",
        action="store_true",
        help="the device prints key=value, CSV or JSON lines",
    )
    mon.add_argument(
        "--duration-s",
        type=_duration,
        default=math.inf,
        help="stop after this many seconds",
    )
    mon.add_argument(
        "--max-line-bytes", type=_number_type(int, "max-line-bytes", minimum=1, strict=False), default=1024,
        help="line mode: longer lines are rejected and counted",
    )  # fmt: skip
    send = sub.add_parser("send", help="send one command and wait for its ACK")
    send.add_argument("url", type=_url)
    send.add_argument(
        "actuator", help="actuator name (from the device's HELLO) or index"
    )
    send.add_argument("value", type=int)
    send.add_argument("--baudrate", type=_BAUDRATE, default=115200)
    send.add_argument(
        "--timeout-s", type=_number_type(float, "timeout-s", minimum=0, strict=True), default=0.5,
        help="ACK timeout per attempt",
    )  # fmt: skip
    sim = sub.add_parser(
        "simulate", help="run the host simulator on a pty and print its path"
    )
    sim.add_argument("--trace", type=Path, help="file of 't_ms distance_cm' lines")
    sim.add_argument(
        "--distance-cm",
        type=_number_type(float, "distance-cm", minimum=-1.0, strict=False),  # -1: nothing in range
        default=100.0,
        help="fixed distance without a trace",
    )
    sim.add_argument("--loop", action="store_true", help="repeat the trace")
    sim.add_argument("--sensor-period-ms", type=_number_type(int, "sensor-period-ms", minimum=0, strict=False),
                     default=50)  # fmt: skip
    sim.add_argument("--failsafe-ms", type=_number_type(int, "failsafe-ms", minimum=0, strict=False), default=1000)
    return parser


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"duration-s must be a number. Got: {text!r}") from None
    if math.isnan(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"duration-s must be > 0. Got: {text}")
    return value


class _Stop(Exception):
    pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def main(argv: list[str]) -> int:
    """Run one bridge command; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr
    )
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(args)
    except (KeyboardInterrupt, _Stop):
        return 0
    except (CommandError, MissingDependencyError, BridgeConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LinkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return (
            2
            if args.command in ("monitor", "send") and "cannot open" in str(exc)
            else 1
        )
    except BridgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    if args.command == "ports":
        ports = list_ports()
        for p in ports:
            names = " ".join(p.by_id)
            print(f"{p.device}\t{p.vid_pid or '-'}\t{p.description}\t{names}".rstrip())
        if not ports:
            print("no serial ports found", file=sys.stderr)
        return 0
    if args.command == "monitor":
        return _monitor(args)
    if args.command == "send":
        actuator: str | int = (
            int(args.actuator) if args.actuator.isdigit() else args.actuator
        )
        config = BridgeConfig(baudrate=args.baudrate, command_timeout_s=args.timeout_s)
        with BridgeLink.open(args.url, config) as link:
            try:
                result = link.send_command(actuator, args.value)
            except CommandRejectedError as exc:
                print(f"NACK {exc}", file=sys.stderr)
                return 1
        print(f"ACK {result.actuator}={result.value} seq={result.seq} attempts={result.attempts} "
              f"latency_ms={result.latency_ms:.2f}")  # fmt: skip
        return 0
    return _simulate(args)


def _monitor(args: argparse.Namespace) -> int:
    port = open_port(args.url, baudrate=args.baudrate, timeout_s=0.1, exclusive=True)
    decoder = FrameDecoder()
    parser = LineParser(max_line_bytes=args.max_line_bytes)
    splitter = LineSplitter(args.max_line_bytes)
    lines = 0
    started = time.monotonic()
    try:
        if not args.line_mode:
            port.write(
                b"\x00" + encode_frame(0, HOST_HELLO)
            )  # ask the device to introduce itself
        while time.monotonic() - started < args.duration_s:
            data = port.read(max(1, port.in_waiting))
            stamp = f"{time.monotonic() - started:9.3f}"
            if not args.line_mode:
                for frame in decoder.feed(data):
                    print(f"{stamp} {describe(frame)}", flush=True)
                continue
            for raw in splitter.feed(data):
                lines += 1
                values = parser.parse_bytes(raw)
                if values is not None:
                    print(
                        f"{stamp} " + " ".join(f"{k}={v:g}" for k, v in values.items()),
                        flush=True,
                    )
    finally:
        port.close()
        if not args.line_mode:
            c = decoder.counters()
            print(
                f"frames_ok={c.frames_ok} crc_errors={c.crc_errors} resyncs={c.resyncs}",
                file=sys.stderr,
            )
        else:
            rejected = " ".join(f"{k}={v}" for k, v in parser.rejects.items() if v)
            print(f"lines={lines} rejected: {rejected or 'none'}", file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    sim = HostSimulator(
        args.trace, distance_cm=args.distance_cm, loop_trace=args.loop,
        sensor_period_ms=args.sensor_period_ms, failsafe_ms=args.failsafe_ms,
    )  # fmt: skip
    with sim:
        print(sim.port, flush=True)
        print(f"pty {sim.pty_path}; stop with Ctrl-C", file=sys.stderr)
        seen = 0
        while True:
            events = sim.actuator_events()
            for event in events[seen:]:
                print(f"{event.name}={event.value}", flush=True)
            seen = len(events)
            time.sleep(0.05)


# LineModeConfig is re-exported for scripts that build a monitor by hand.
_ = LineModeConfig
