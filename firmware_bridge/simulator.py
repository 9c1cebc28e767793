"""Run the reference firmware on the host, on a pseudo-terminal, and watch what it does.

``HostSimulator`` builds ``bp_sim`` (cached) and starts it. The port to open is a stable symlink
(``port``) to the current pty, which is what ``/dev/serial/by-id`` gives for a real board; it
disappears and comes back on :meth:`replug`, as a USB device does. Actuator changes printed by the
simulator are collected so tests can assert on what the robot *did*, not on what the host sent.
"""

from __future__ import annotations

import logging
import math
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from firmware_bridge.errors import SimulatorError
from firmware_bridge.firmware import build_host_tools

__all__ = ["ActuatorEvent", "HostSimulator"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActuatorEvent:
    """The simulated MCU set ``name`` to ``value`` at host time ``time_s`` (time.monotonic)."""

    time_s: float
    name: str
    value: int


class HostSimulator:
    """The C core as a process on a pty. Use as a context manager, or call start() and close().

    ``trace`` is a sequence of ``(t_ms, distance_cm)`` points, linearly interpolated, or a path of
    a file with one ``t_ms distance_cm`` pair a line. Without a trace the distance is
    ``distance_cm``. ``failsafe_ms`` is the firmware's own stop when the host goes silent.
    """

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
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._cond = threading.Condition()
        self._events: list[ActuatorEvent] = []
        self._state: dict[str, int] = {}
        self._lines: list[str] = []
        self._pty_path = ""
        self._replugs = 0
        self._failsafes = 0
        self._reader: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> HostSimulator:
        """Build if needed, start the process, and wait until its pty exists."""
        if self._proc is not None:
            return self
        tools = build_host_tools()
        self._tmp = tempfile.TemporaryDirectory(prefix="bp_sim_")
        link = Path(self._tmp.name) / "ttySIM"
        args = [str(tools.simulator), "--link", str(link), *self._args]
        if self._trace is None:
            args += ["--distance", repr(float(self._distance_cm))]
        elif isinstance(self._trace, Path):
            args += ["--trace", str(self._trace)]
        else:
            trace_file = Path(self._tmp.name) / "trace.txt"
            trace_file.write_text(
                "".join(f"{t} {d}\n" for t, d in self._trace), encoding="utf-8"
            )
            args += ["--trace", str(trace_file)]
        self._link = link
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(
            target=self._read_events, name="bp-sim-events", daemon=True
        )
        self._reader.start()
        with self._cond:
            ready = self._cond.wait_for(
                lambda: bool(self._pty_path) or self._proc_exited(),
                self._start_timeout_s,
            )
        if not ready or not self._pty_path:
            stderr = self._drain_stderr()
            self.close()
            raise SimulatorError(
                f"bp_sim did not report READY within {self._start_timeout_s} s. stderr: {stderr!r}"
            )
        log.info("host simulator on %s (link %s)", self._pty_path, link)
        return self

    def close(self) -> int | None:
        """Stop the simulator (idempotent); returns its exit code."""
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.write("quit\n")
                    proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass
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

    def __enter__(self) -> HostSimulator:  # noqa: PYI034 (not meant for subclassing)
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what tests use ----------------------------------------------------------------------
    @property
    def port(self) -> str:
        """Stable path to open (a symlink to the current pty, like a /dev/serial/by-id name)."""
        return str(self._link)

    @property
    def pty_path(self) -> str:
        """The current /dev/pts/N behind :attr:`port`."""
        with self._cond:
            return self._pty_path

    @property
    def replugs(self) -> int:
        with self._cond:
            return self._replugs

    @property
    def failsafes(self) -> int:
        """How often the firmware's own failsafe stopped the actuators."""
        with self._cond:
            return self._failsafes

    def actuator_state(self) -> dict[str, int]:
        """Last value the firmware applied to each actuator."""
        with self._cond:
            return dict(self._state)

    def actuator_events(self) -> list[ActuatorEvent]:
        with self._cond:
            return list(self._events)

    def wait_for_actuator(
        self, name: str, value: int, timeout_s: float, since_s: float = 0.0
    ) -> ActuatorEvent:
        """Block until the firmware sets ``name`` to ``value`` (after ``since_s``); return that event."""

        def found() -> ActuatorEvent | None:
            for event in reversed(self._events):
                if event.time_s < since_s:
                    return None
                if event.name == name and event.value == value:
                    return event
            return None

        with self._cond:
            self._cond.wait_for(
                lambda: found() is not None or self._proc_exited(), timeout_s
            )
            event = found()
        if event is None:
            raise SimulatorError(
                f"firmware never set {name}={value} within {timeout_s} s. Got: {self.actuator_state()}"
            )
        return event

    def set_distance(self, distance_cm: float) -> None:
        """Override the trace with a fixed distance (``math.nan`` goes back to the trace)."""
        self._control("trace" if math.isnan(distance_cm) else f"distance {distance_cm}")

    def replug(self, timeout_s: float = 5.0) -> None:
        """Remove the pty and create a new one, as unplugging and replugging a board does."""
        before = self.replugs
        self._control("replug")
        with self._cond:
            if not self._cond.wait_for(lambda: self._replugs > before, timeout_s):
                raise SimulatorError(
                    f"bp_sim did not come back within {timeout_s} s after replug"
                )

    # -- internals ---------------------------------------------------------------------------
    def _control(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise SimulatorError("the simulator is not running: call start() first")
        try:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise SimulatorError(f"the simulator exited (code {proc.poll()})") from exc

    def _proc_exited(self) -> bool:
        return self._proc is None or self._proc.poll() is not None

    def _drain_stderr(self) -> str:
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
        fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
        with self._cond:
            self._lines.append(line)
            if line.startswith(("READY", "REPLUG")):
                self._pty_path = fields.get("pty", "")
                if line.startswith("REPLUG"):
                    self._replugs += 1
            elif line.startswith("APPLY"):
                event = ActuatorEvent(
                    time.monotonic(), fields["name"], int(fields["value"])
                )
                self._events.append(event)
                self._state[event.name] = event.value
            elif line.startswith("FAILSAFE"):
                self._failsafes += 1
            self._cond.notify_all()
        log.debug("bp_sim: %s", line)
