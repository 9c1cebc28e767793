"""Run the AVR image that would be flashed (the Uno sketch) in simavr, on a pseudo-terminal.

``AVRSimulator`` builds ``bp_simavr`` (firmware/simavr/harness.c, cached) and the Uno sketch, and
starts the harness: the sketch's UART0 is bridged to a pty (simavr's ``uart_pty``), an emulated
HC-SR04 answers its trigger pin with an echo pulse as long as the set distance, and the pins that
drive the motors and the LED are reported as they change. Unlike :class:`HostSimulator`, nothing
here is the C core compiled for the host: it is the AVR machine code, Arduino core included.

The simulated clock is paced to wall time and never runs ahead of it; on a loaded host it can fall
behind (``lag_ms``), which the firmware sees as a slower world, never as a faster one.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from firmware_bridge.errors import SimulatorError
from firmware_bridge.firmware import (
    SIMAVR_HEADER,
    build_simavr_harness,
    build_uno_sketch,
)

__all__ = ["AVRSimulator", "OutputEvent", "motor_duty", "simavr_installed"]

log = logging.getLogger(__name__)


def simavr_installed() -> bool:
    """True when Debian's simavr, libsimavr-dev and libsimavrparts1 look installed."""
    return SIMAVR_HEADER.exists() and shutil.which("simavr") is not None


def motor_duty(permille: int) -> int:
    """The signed PWM duty (-255..255) the sketch drives for a motor command in permille."""
    magnitude = abs(permille) * 255 // 1000  # as edge_bridge.ino's drive(): truncating
    return -magnitude if permille < 0 else magnitude


@dataclass(frozen=True)
class OutputEvent:
    """An output pin changed at host time ``time_s`` (time.monotonic).

    ``duty`` is what the pins drive: for a motor the PWM duty 0..255, negative when its direction
    pin is high (reverse); for the LED 0 or 1.
    """

    time_s: float
    name: str
    duty: int


class AVRSimulator:
    """An AVR image running in simavr with UART0 on a pty. Use as a context manager.

    ``image`` defaults to the Uno sketch (built with arduino-mk if needed). ``distance_cm`` is
    what the emulated HC-SR04 measures; beyond 400 cm, or negative, it gives no echo.
    """

    def __init__(
        self,
        image: Path | None = None,
        *,
        distance_cm: float = 100.0,
        mcu: str = "atmega328p",
        freq_hz: int = 16_000_000,
        start_timeout_s: float = 10.0,
    ) -> None:
        self._image = image
        self._distance_cm = distance_cm
        self._mcu = mcu
        self._freq_hz = freq_hz
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._link = Path()
        self._reader: threading.Thread | None = None
        self._cond = threading.Condition()
        self._pty_path = ""
        self._events: list[OutputEvent] = []
        self._outputs: dict[str, int] = {}
        self._exit_fields: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> AVRSimulator:
        """Build what is missing, start the harness, and wait until its pty exists."""
        if self._proc is not None:
            return self
        harness = build_simavr_harness()
        image = self._image or build_uno_sketch().image
        if not image.exists():
            raise SimulatorError(
                f"AVR image must be an existing ELF file. Got: {image}"
            )
        self._tmp = tempfile.TemporaryDirectory(prefix="bp_simavr_")
        self._link = Path(self._tmp.name) / "ttyAVR"
        args = [
            str(harness),
            "--mcu", self._mcu,
            "--freq-hz", str(self._freq_hz),
            "--link", str(self._link),
            "--distance-cm", repr(float(self._distance_cm)),
            str(image),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(
            target=self._read_events, name="bp-simavr-events", daemon=True
        )
        self._reader.start()
        with self._cond:
            self._cond.wait_for(
                lambda: bool(self._pty_path) or self._exited(), self._start_timeout_s
            )
        if not self._pty_path:
            stderr = self._stderr_tail()
            self.close()
            raise SimulatorError(
                f"bp_simavr did not report READY within {self._start_timeout_s} s. "
                f"stderr: {stderr!r}"
            )
        log.info(
            "simavr running %s on %s (link %s)", image.name, self._pty_path, self._link
        )
        return self

    def close(self) -> int | None:
        """Stop the simulation (idempotent); returns the harness's exit code."""
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.write("quit\n")
                    proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # already gone: wait() below collects it
            try:
                code = proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(timeout=3)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        if self._reader is not None:
            self._reader.join(timeout=2)
            self._reader = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code

    def __enter__(self) -> AVRSimulator:  # noqa: PYI034 (not meant for subclassing)
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what tests use ----------------------------------------------------------------------
    @property
    def port(self) -> str:
        """Path to open: a symlink to the pty, as a /dev/serial/by-id name is for a board."""
        return str(self._link)

    @property
    def pty_path(self) -> str:
        with self._cond:
            return self._pty_path

    @property
    def lag_ms(self) -> int | None:
        """Wall time the simulation could not keep up with (known after close())."""
        with self._cond:
            lag = self._exit_fields.get("lag_ms")
        return int(lag) if lag is not None else None

    def outputs(self) -> dict[str, int]:
        """The current duty of each output (see :class:`OutputEvent`)."""
        with self._cond:
            return dict(self._outputs)

    def output_events(self) -> list[OutputEvent]:
        with self._cond:
            return list(self._events)

    def wait_for_output(
        self, name: str, duty: int, timeout_s: float, since_s: float = 0.0
    ) -> OutputEvent:
        """Block until the pins of ``name`` drive ``duty`` (after ``since_s``); return that event."""

        def found() -> OutputEvent | None:
            for event in reversed(self._events):
                if event.time_s < since_s:
                    return None
                if event.name == name and event.duty == duty:
                    return event
            return None

        with self._cond:
            self._cond.wait_for(
                lambda: found() is not None or self._exited(), timeout_s
            )
            event = found()
            state = dict(self._outputs)
        if event is None:
            raise SimulatorError(
                f"the AVR never drove {name}={duty} within {timeout_s} s. Got: {state}"
            )
        return event

    def set_distance(self, distance_cm: float) -> None:
        """What the emulated HC-SR04 measures from now on (negative or > 400 cm: no echo)."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise SimulatorError("the simulation is not running: call start() first")
        try:
            proc.stdin.write(f"distance {distance_cm!r}\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise SimulatorError(f"bp_simavr exited (code {proc.poll()})") from exc

    # -- internals ---------------------------------------------------------------------------
    def _exited(self) -> bool:
        return self._proc is None or self._proc.poll() is not None

    def _stderr_tail(self) -> str:
        proc = self._proc
        if proc is None or proc.stderr is None or proc.poll() is None:
            return ""
        return proc.stderr.read()[-500:]

    def _read_events(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        stdout: IO[str] = proc.stdout
        for line in stdout:
            self._on_line(line.strip())
        with self._cond:
            self._cond.notify_all()

    def _on_line(self, line: str) -> None:
        # simavr's uart_pty prints its own lines too; only ours start with a capitalised word.
        kind, _, rest = line.partition(" ")
        fields = dict(p.split("=", 1) for p in rest.split() if "=" in p)
        with self._cond:
            if kind == "READY":
                self._pty_path = fields.get("pty", "")
            elif kind == "OUTPUT":
                event = OutputEvent(
                    time.monotonic(), fields["name"], int(fields["duty"])
                )
                self._events.append(event)
                self._outputs[event.name] = event.duty
            elif kind == "EXIT":
                self._exit_fields = fields
            self._cond.notify_all()
        log.debug("bp_simavr: %s", line)
