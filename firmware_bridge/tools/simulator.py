"""Run the reference firmware on the host, on a pseudo-terminal, and watch what it does.

``HostSimulator`` builds ``bp_sim`` (cached) and starts it. The port to open is a stable symlink
(``port``) to the current pty, which is what ``/dev/serial/by-id`` gives for a real board; it
disappears and comes back on :meth:`replug`, as a USB device does. Actuator changes printed by the
simulator are collected so tests can assert on what the robot *did*, not on what the host sent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.errors import SimulatorError
from firmware_bridge.tools._process import SimulatorProcess
from firmware_bridge.tools.firmware import build_host_tools

__all__ = ["ActuatorEvent", "HostSimulator"]


@dataclass(frozen=True)
class ActuatorEvent:
    """The simulated MCU set ``name`` to ``value`` at host time ``time_s`` (time.monotonic).

    ``seq`` is the sequence number of the command the firmware applied, None when no command
    caused it (the failsafe, a reset).
    """

    time_s: float
    name: str
    value: int
    seq: int | None = None


class HostSimulator(SimulatorProcess[ActuatorEvent]):
    """The C core as a process on a pty. Use as a context manager, or call start() and close().

    ``trace`` is a sequence of ``(t_ms, distance_cm)`` points, linearly interpolated, or a path of
    a file with one ``t_ms distance_cm`` pair a line. Without a trace the distance is
    ``distance_cm``. ``failsafe_ms`` is the firmware's own stop when the host goes silent.
    """

    program = "bp_sim"
    link_name = "ttySIM"

    def __init__(
        self,
        trace: Sequence[tuple[float, float]] | Path | None = None,
        *,
        distance_cm: float = 100.0,
        loop_trace: bool = False,
        sensor_period_ms: int = 50,
        heartbeat_ms: int = 250,
        failsafe_ms: int = 1000,
        clock_start_ms: int = 0,
        replug_gap_ms: int = 300,
        start_timeout_s: float = 10.0,
    ) -> None:
        if sensor_period_ms < 0 or heartbeat_ms < 0 or failsafe_ms < 0:
            raise SimulatorError(
                f"periods must be >= 0 ms. Got: sensor_period_ms={sensor_period_ms}, "
                f"heartbeat_ms={heartbeat_ms}, failsafe_ms={failsafe_ms}"
            )
        super().__init__(start_timeout_s)
        self._trace = trace
        self._distance_cm = distance_cm
        self._args = [
            "--sensor-period-ms", str(sensor_period_ms),
            "--heartbeat-ms", str(heartbeat_ms),
            "--failsafe-ms", str(failsafe_ms),
            "--clock-start-ms", str(clock_start_ms),
            "--replug-gap-ms", str(replug_gap_ms),
        ]  # fmt: skip
        if loop_trace:
            self._args.append("--loop")
        self._replugs = 0
        self._failsafes = 0
        self._duplicates = 0

    # -- what tests use ----------------------------------------------------------------------
    @property
    def replugs(self) -> int:
        with self._cond:
            return self._replugs

    @property
    def failsafes(self) -> int:
        """How often the firmware's own failsafe stopped the actuators."""
        with self._cond:
            return self._failsafes

    @property
    def duplicates(self) -> int:
        """Commands the firmware answered as duplicates (a resend of an applied seq), not applied again."""
        with self._cond:
            return self._duplicates

    def actuator_state(self) -> dict[str, int]:
        """Last value the firmware applied to each actuator."""
        return self._state_snapshot()

    def actuator_events(self) -> list[ActuatorEvent]:
        return self._events_snapshot()

    def wait_for_actuator(
        self, name: str, value: int, timeout_s: float, since_s: float = 0.0
    ) -> ActuatorEvent:
        """Block until the firmware sets ``name`` to ``value`` (after ``since_s``); return that event."""
        event, state = self._wait_for_event(
            lambda e: e.name == name and e.value == value, timeout_s, since_s
        )
        if event is None:
            raise SimulatorError(
                f"firmware never set {name}={value} within {timeout_s} s. Got: {state}"
            )
        return event

    def set_distance(self, distance_cm: float) -> None:
        """Override the trace with a fixed distance (``math.nan`` goes back to the trace)."""
        self._send("trace" if math.isnan(distance_cm) else f"distance {distance_cm}")

    def replug(self, timeout_s: float = 5.0) -> None:
        """Remove the pty and create a new one, as unplugging and replugging a board does."""
        before = self.replugs
        self._send("replug")
        with self._cond:
            if not self._cond.wait_for(lambda: self._replugs > before, timeout_s):
                raise SimulatorError(
                    f"bp_sim did not come back within {timeout_s} s after replug"
                )

    # -- SimulatorProcess --------------------------------------------------------------------
    def _command(self, tmp_dir: Path) -> list[str]:
        tools = build_host_tools()
        args = [str(tools.simulator), "--link", str(self._link), *self._args]
        if self._trace is None:
            args += ["--distance", repr(float(self._distance_cm))]
        elif isinstance(self._trace, Path):
            args += ["--trace", str(self._trace)]
        else:
            trace_file = tmp_dir / "trace.txt"
            trace_file.write_text(
                "".join(f"{t} {d}\n" for t, d in self._trace), encoding="utf-8"
            )
            args += ["--trace", str(trace_file)]
        return args

    def _on_event(self, kind: str, fields: dict[str, str]) -> None:
        if kind == "REPLUG":  # the new pty, behind the same link
            self._pty_path = fields.get("pty", "")
            self._replugs += 1
        elif kind == "APPLY":
            seq = int(fields.get("seq", "-1"))
            event = ActuatorEvent(
                time.monotonic(), fields["name"], int(fields["value"]), seq if seq >= 0 else None
            )
            self._record(event, event.value)
        elif kind == "DUPLICATE":
            self._duplicates = int(fields["total"])
        elif kind == "FAILSAFE":
            self._failsafes += 1
