"""One rule for what a trace file is, shared by the text and sensor sources, and the clock they replay on.

A trace is JSON lines whose first record carries ``t_s`` (seconds from the start of the run), so
it is replayed on the run's clock; any other file is read line by line as live input. Text and
sensor files used to be told apart by two different tests (a leading ``{`` for text, a ``t_s`` key
for sensors), so one file could be a trace to one source and live input to the other.

A run in real time replays its traces on a :class:`FirstFrameClock`: trace time 0 is when the first
frame arrives, not when the runtime was built. A stream that takes seconds to open (RTSP, MPEG-TS
over TCP) used to start the traces seconds before the first frame: its first result used the
reading at t = 2.3 s and the records released meanwhile kept stamps from before the run. A looping
file tells the clock where each new pass starts (``FrameSource.on_pass``, wired by the runtime), and
the traces replay again on every pass.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge_sdk.clock import WallReplayClock, now_s

__all__ = ["FirstFrameClock", "is_trace_file"]


def is_trace_file(path: Path) -> bool:
    """Whether the first non-blank line of ``path`` is a JSON object with a ``t_s`` key."""
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(record, dict) and "t_s" in record
    return False


class FirstFrameClock(WallReplayClock):
    """A wall-paced replay clock that starts once, at :meth:`start` (the run's first frame).

    Until then :meth:`wait_until` waits; the listeners of :meth:`on_start` run inside :meth:`start`,
    on the thread that starts it, so a trace's records already due (the one at t = 0) are stored
    before that first frame goes on to be aligned. Every trace of the run shares one clock.
    """

    def __init__(self) -> None:
        super().__init__(start_s=0.0)
        self._started = threading.Event()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], object]] = []

    @property
    def started(self) -> bool:
        return self._started.is_set()

    def start(self, at_s: float | None = None) -> bool:
        """Put trace time 0 at ``at_s`` (runtime clock; default now); the first call wins. True if this one did."""
        with self._lock:
            if self._started.is_set():
                return False
            self.start_s = now_s() if at_s is None else at_s
            self._started.set()
            listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener()
        return True

    def on_start(self, listener: Callable[[], object]) -> None:
        """Call ``listener()`` when the clock starts (at once if it has)."""
        with self._lock:
            if not self._started.is_set():
                self._listeners.append(listener)
                return
        listener()

    def wait_until(self, t_s: float, timeout_s: float | None) -> bool:
        if not self._started.is_set():
            began_s = time.monotonic()
            if not self._started.wait(timeout_s):
                return False
            if timeout_s is not None:
                timeout_s = max(timeout_s - (time.monotonic() - began_s), 0.0)
        return super().wait_until(t_s, timeout_s)

    def to_runtime_s(self, t_s: float) -> float:
        if not self._started.is_set():  # a live reading with t_s before any frame: time 0 is now
            self.start()
        return super().to_runtime_s(t_s)
