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

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.errors import SimulatorError
from firmware_bridge.tools._process import SimulatorProcess
from firmware_bridge.tools.firmware import (
    SIMAVR_HEADER,
    build_simavr_harness,
    build_uno_sketch,
)

__all__ = ["AVRSimulator", "OutputEvent", "motor_duty", "simavr_installed"]


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


class AVRSimulator(SimulatorProcess[OutputEvent]):
    """An AVR image running in simavr with UART0 on a pty. Use as a context manager.

    ``image`` defaults to the Uno sketch (built with arduino-mk if needed). ``distance_cm`` is
    what the emulated HC-SR04 measures; beyond 400 cm, or negative, it gives no echo.
    """

    program = "bp_simavr"
    link_name = "ttyAVR"

    def __init__(
        self,
        image: Path | None = None,
        *,
        distance_cm: float = 100.0,
        mcu: str = "atmega328p",
        freq_hz: int = 16_000_000,
        start_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(start_timeout_s)
        self._image = image
        self._distance_cm = distance_cm
        self._mcu = mcu
        self._freq_hz = freq_hz
        self._exit_fields: dict[str, str] = {}

    # -- what tests use ----------------------------------------------------------------------
    @property
    def lag_ms(self) -> int | None:
        """Wall time the simulation could not keep up with (known after close())."""
        with self._cond:
            lag = self._exit_fields.get("lag_ms")
        return int(lag) if lag is not None else None

    def outputs(self) -> dict[str, int]:
        """The current duty of each output (see :class:`OutputEvent`)."""
        return self._state_snapshot()

    def output_events(self) -> list[OutputEvent]:
        return self._events_snapshot()

    def wait_for_output(
        self, name: str, duty: int, timeout_s: float, since_s: float = 0.0
    ) -> OutputEvent:
        """Block until the pins of ``name`` drive ``duty`` (after ``since_s``); return that event."""
        event, state = self._wait_for_event(
            lambda e: e.name == name and e.duty == duty, timeout_s, since_s
        )
        if event is None:
            raise SimulatorError(
                f"the AVR never drove {name}={duty} within {timeout_s} s. Got: {state}"
            )
        return event

    def set_distance(self, distance_cm: float) -> None:
        """What the emulated HC-SR04 measures from now on (negative or > 400 cm: no echo)."""
        self._send(f"distance {distance_cm!r}")

    # -- SimulatorProcess --------------------------------------------------------------------
    def _command(self, tmp_dir: Path) -> list[str]:
        harness = build_simavr_harness()
        image = self._image or build_uno_sketch().image
        if not image.exists():
            raise SimulatorError(
                f"AVR image must be an existing ELF file. Got: {image}"
            )
        return [
            str(harness),
            "--mcu", self._mcu,
            "--freq-hz", str(self._freq_hz),
            "--link", str(self._link),
            "--distance-cm", repr(float(self._distance_cm)),
            str(image),
        ]  # fmt: skip

    def _on_event(self, kind: str, fields: dict[str, str]) -> None:
        if kind == "OUTPUT":
            event = OutputEvent(time.monotonic(), fields["name"], int(fields["duty"]))
            self._record(event, event.duty)
        elif kind == "EXIT":
            self._exit_fields = fields
