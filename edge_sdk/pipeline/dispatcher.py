"""The dispatcher thread: user callbacks, actions and publishing, off the inference worker.

A bounded queue sits in front. Its policy is ``drop_oldest`` for live sources: a slow callback
or sink can never stall inference, and what it drops is counted. With ``block`` (every_frame
playback, where every frame counts) the worker waits for room instead, so a file's results are
all delivered and the run goes at the pace of its slowest stage, publishing included. Each wake-up takes everything queued and hands the
payloads to each sink as one batch: under load that is one outbox transaction and one thread
hand-off for many results instead of one per result; at camera rates a batch is one result. Callback exceptions are logged and counted, never
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
    def __init__(self, capacity: int, times: StageTimes, payload_of: Callable[[Result], dict[str, Any]],
                 name: str = "edge_sdk-dispatcher", block_when_full: bool = False) -> None:
        """``payload_of(result)`` builds what the publishers get, here rather than on the worker."""
        self._queue: collections.deque[tuple[Result, bool]] = collections.deque()
        self._payload_of = payload_of
        self._capacity = capacity
        self._block = block_when_full
        self.policy = "block" if block_when_full else "drop_oldest"
        self.blocked_s = 0.0  # time the worker waited for room (block policy)
        self._cond = threading.Condition()
        self._callbacks: list[tuple[str, ResultCallback]] = []
        self._publishers: list[Callable[[list[dict[str, Any]]], Any]] = []
        self._times = times
        self._closed = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.callback_errors = 0
        self.dispatched = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def add_callback(self, callback: ResultCallback, name: str | None = None) -> None:
        label = name or str(getattr(callback, "__qualname__", repr(callback)))
        self._callbacks.append((label, callback))

    def add_publisher(self, publish_many: Callable[[list[dict[str, Any]]], Any]) -> None:
        """``publish_many(payloads)`` gets the payloads of each batch, in order; errors stop the run."""
        self._publishers.append(publish_many)

    def start(self) -> Dispatcher:
        self._thread.start()
        return self

    def submit(self, result: Result, publish: bool) -> None:
        with self._cond:
            if len(self._queue) >= self._capacity and self._block:
                started_s = time.perf_counter()
                while len(self._queue) >= self._capacity and not self._closed:
                    self._cond.wait(0.1)
                self.blocked_s += time.perf_counter() - started_s
            if len(self._queue) >= self._capacity:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append((result, publish))
            if len(self._queue) == 1:  # the thread only waits on an empty queue
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
                batch = list(self._queue)
                if self._block and len(batch) >= self._capacity:
                    self._cond.notify_all()  # a worker may wait for room
                self._queue.clear()
            for result, _ in batch:
                for name, callback in self._callbacks:
                    try:
                        callback(result)
                    except Exception:  # noqa: BLE001 - user code: counted and logged, never fatal to the stream
                        self.callback_errors += 1
                        _log.exception("result callback %s failed (the stream goes on)", name)
            if self._publishers and any(publish for _, publish in batch):
                started = time.perf_counter()
                try:
                    payloads = [self._payload_of(result) for result, publish in batch if publish]
                    for publish_many in self._publishers:
                        publish_many(payloads)
                except Exception as exc:  # noqa: BLE001 - any sink failure ends the run, with its cause
                    self.error = exc
                    _log.error("publishing failed: %s", exc)
                    with self._cond:
                        self._queue.clear()
                        self._closed = True
                    return
                self._times.record("publish", (time.perf_counter() - started) * 1000.0 / len(payloads))
            self.dispatched += len(batch)
