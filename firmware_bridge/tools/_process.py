"""What the two simulators share: a child program that owns a pty and reports events on stdout.

:class:`~firmware_bridge.tools.simulator.HostSimulator` (the C core built for the host) and
:class:`~firmware_bridge.tools.simavr.AVRSimulator` (the AVR image in simavr) both start a program that
creates a pty, links it at a stable path, prints ``READY pty=...``, then one ``KIND key=value ...``
line per event, and reads control lines on stdin (``quit`` ends it). This base owns that process:
start and wait for READY, a named reader thread that applies each line under one condition, the
timestamped event log that tests wait on, control lines, and an idempotent close().
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, ClassVar, Generic, Protocol, Self, TypeVar

from firmware_bridge.errors import SimulatorError

__all__ = ["SimulatorProcess", "TimedEvent"]


class TimedEvent(Protocol):
    """An event the program reported: ``name`` changed at host time ``time_s`` (time.monotonic)."""

    @property
    def time_s(self) -> float: ...

    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=TimedEvent)


class SimulatorProcess(Generic[E]):
    """A simulator program on a pty. Subclasses give the command line and handle their events."""

    # The program's name ("bp_sim") names the reader thread, the temp dir and the errors.
    program: ClassVar[str]
    link_name: ClassVar[str]  # the stable symlink to the pty, inside the temp dir

    def __init__(self, start_timeout_s: float) -> None:
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._link = Path()
        self._reader: threading.Thread | None = None
        # One condition guards everything the reader thread updates, so a waiter can watch for an
        # event and for the process exiting at once.
        self._cond = threading.Condition()
        self._pty_path = ""
        self._events: list[E] = []
        self._state: dict[str, int] = {}  # last value of each name, from the events
        # The subclass's module logger, so log names stay those of the public modules.
        self._log = logging.getLogger(type(self).__module__)

    # -- for subclasses ----------------------------------------------------------------------
    def _command(self, tmp_dir: Path) -> list[str]:
        """Build what is missing and return the program's arguments (``self._link`` is set)."""
        raise NotImplementedError

    def _on_event(self, kind: str, fields: dict[str, str]) -> None:
        """Apply one reported line other than READY; called on the reader thread under the lock."""

    def _record(self, event: E, value: int) -> None:
        """Log ``event`` and remember ``value`` as its name's state (call from :meth:`_on_event`)."""
        self._events.append(event)
        self._state[event.name] = value

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        """Build what is missing, start the program, and wait until its pty exists."""
        if self._proc is not None:
            return self
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{self.program}_")
        self._link = Path(self._tmp.name) / self.link_name
        try:
            args = self._command(Path(self._tmp.name))
        except BaseException:
            self.close()  # a failed build must not leave the temp dir behind
            raise
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(
            target=self._read_events,
            name=f"{self.program.replace('_', '-')}-events",
            daemon=True,
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
                f"{self.program} did not report READY within {self._start_timeout_s} s. "
                f"stderr: {stderr!r}"
            )
        self._log.info("%s on %s (link %s)", " ".join(args), self._pty_path, self._link)
        return self

    def close(self) -> int | None:
        """Stop the program (idempotent); returns its exit code."""
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
        # The program has exited: let the reader take its last lines (EXIT) up to end of file
        # before the pipes close under it.
        if self._reader is not None:
            self._reader.join(timeout=2)
            self._reader = None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what tests use ----------------------------------------------------------------------
    @property
    def port(self) -> str:
        """Stable path to open: a symlink to the current pty, as a /dev/serial/by-id name is."""
        return str(self._link)

    @property
    def pty_path(self) -> str:
        """The current /dev/pts/N behind :attr:`port`."""
        with self._cond:
            return self._pty_path

    def _state_snapshot(self) -> dict[str, int]:
        with self._cond:
            return dict(self._state)

    def _events_snapshot(self) -> list[E]:
        with self._cond:
            return list(self._events)

    def _wait_for_event(
        self, match: Callable[[E], bool], timeout_s: float, since_s: float
    ) -> tuple[E | None, dict[str, int]]:
        """The newest event at or after ``since_s`` that ``match``es (None on timeout or exit),
        with the state at that moment for the caller's error message."""

        def found() -> E | None:
            for event in reversed(self._events):
                if event.time_s < since_s:
                    return None
                if match(event):
                    return event
            return None

        with self._cond:
            self._cond.wait_for(
                lambda: found() is not None or self._exited(), timeout_s
            )
            return found(), dict(self._state)

    def _send(self, line: str) -> None:
        """Write one control line to the program's stdin."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise SimulatorError(f"{self.program} is not running: call start() first")
        try:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise SimulatorError(f"{self.program} exited (code {proc.poll()})") from exc

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
            self._cond.notify_all()  # wake waiters: the program has exited

    def _on_line(self, line: str) -> None:
        # Lines of other tools (simavr's uart_pty prints its own) parse too, to kinds no one handles.
        kind, _, rest = line.partition(" ")
        fields = dict(part.split("=", 1) for part in rest.split() if "=" in part)
        with self._cond:
            if kind == "READY":
                self._pty_path = fields.get("pty", "")
            else:
                self._on_event(kind, fields)
            self._cond.notify_all()
        self._log.debug("%s: %s", self.program, line)
