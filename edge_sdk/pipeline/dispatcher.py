"""The dispatcher thread: user callbacks, actions and publishing, off the inference worker.

A bounded queue with the ``drop_oldest`` policy sits in front: a slow callback or sink can never
stall inference, and what it drops is counted. Callback exceptions are logged and counted, never
swallowed silently and never fatal to the stream; a sink that fails for good stops the run.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from edge_sdk.pipeline.result import Result
from edge_sdk.pipeline.stats import StageTimes

__all__ = ["Dispatcher", "ResultCallback"]

_log = logging.getLogger(__name__)
ResultCallback = Callable[[Result], Any]


class Dispatcher:
    def __init__(self, capacity: int, times: StageTimes, name: str = "edge_sdk-dispatcher") -> None:
        self._queue: collections.deque[tuple[Result, dict[str, Any] | None]] = collections.deque()
        self._capacity = capacity
        self._cond = threading.Condition()
        self._callbacks: list[tuple[str, ResultCallback]] = []
        self._publishers: list[Callable[[dict[str, Any]], Any]] = []
        self._times = times
        self._closed = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.callback_errors = 0
        self.dispatched = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def add_callback(self, callback: ResultCallback, name: str | None = None) -> None:
        self._callbacks.append((name or getattr(callback, "__qualname__", repr(callback)), callback))

    def add_publisher(self, publish: Callable[[dict[str, Any]], Any]) -> None:
        """``publish(payload)`` is called for results that carry a payload; errors stop the run."""
        self._publishers.append(publish)

    def start(self) -> Dispatcher:
        self._thread.start()
        return self

    def submit(self, result: Result, payload: dict[str, Any] | None) -> None:
        with self._cond:
            if len(self._queue) >= self._capacity:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append((result, payload))
            self._cond.notify()

    def depth(self) -> int:
        return len(self._queue)

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout_s``), then stop; idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                _log.warning("dispatcher did not drain within %.1f s; %d results left", timeout_s, len(self._queue))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                result, payload = self._queue.popleft()
            for name, callback in self._callbacks:
                try:
                    callback(result)
                except Exception:
                    self.callback_errors += 1
                    _log.exception("result callback %s failed (the stream goes on)", name)
            if payload is not None and self._publishers:
                started = time.perf_counter()
                try:
                    for publish in self._publishers:
                        publish(payload)
                except Exception as exc:  # a sink that cannot take results ends the run
                    self.error = exc
                    _log.error("publishing failed: %s", exc)
                    with self._cond:
                        self._queue.clear()
                        self._closed = True
                    return
                self._times.record("publish", (time.perf_counter() - started) * 1000.0)
            self.dispatched += 1
