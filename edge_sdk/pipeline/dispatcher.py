"""Off the inference worker: results go down two paths, one for the sinks and one for user code.

The **sink path** (its own thread and bounded queue, policy ``block``) never drops a result once
accepted: when it is full the worker waits for room, which is back-pressure at the pace of the
outbox (a local SQLite write), not of the network. Each wake-up takes everything queued and
hands the payloads to each sink as one batch: under load that is one outbox transaction and one
thread hand-off for many results instead of one per result; at camera rates a batch is one
result. ``published`` counts only payloads every sink accepted. A sink that fails for good
stops the run.

The **callback path** (user callbacks and action rules, its own thread and bounded queue) is
``drop_oldest`` for live sources, so a slow callback can never stall inference, and what it
drops is counted. With ``block`` (every_frame playback, where every frame counts) the worker
waits for room instead. Callback exceptions are logged and counted, never swallowed silently
and never fatal to the stream.

They used to share one drop-oldest queue: a slow callback then dropped results before they
reached the outbox while they were already counted as published (issue 9).

**Batches under load.** A wake-up is the expensive part of a hand-off: the woken thread, and the
delivery process its batch wakes in turn, pay a futex and a reschedule per batch, far more than
the result costs (on a small VM, where an idle CPU halts, 100 µs or more each). So when results
come within ``2 * _LINGER_S`` of the last batch, the sink path lingers ``_LINGER_S`` after a wake-up
and hands over what arrived meanwhile as one batch; at camera rates it never lingers, so a result's
latency is unchanged there. During every_frame playback (a file replayed as fast as it decodes, where
nobody waits on a result's latency) it lingers ``_LINGER_REPLAY_S``: on one core each wake-up of
the sink thread and of the delivery threads behind it is a context switch away from the worker, and
8 ms instead of 2 gave 1.04-1.08x the results/s for a real-size detector and 1.08-1.15x for the seek
model, pinned (alternated ``edge-sdk run`` s; on two cores within the noise).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from edge_sdk.pipeline.result import Result
from edge_sdk.pipeline.stats import StageTimes

__all__ = ["Dispatcher", "ResultCallback"]

_log = logging.getLogger(__name__)
ResultCallback = Callable[[Result], Any]
PublishMany = Callable[[list[dict[str, Any] | None]], Any]  # None: a payload refused while built
_T = TypeVar("_T")
_LINGER_S = 0.002  # at most this much added latency per result, only under load
_LINGER_REPLAY_S = 0.008  # the same during every_frame playback, where throughput is what counts


class _Lane(Generic[_T]):
    """A bounded queue with one thread that takes everything queued per wake-up.

    ``handle(batch)`` returning False ends the lane (what is still queued is discarded: the run
    is stopping with an error).
    """

    def __init__(self, capacity: int, block_when_full: bool, handle: Callable[[list[_T]], bool], name: str,
                 linger_s: float = 0.0) -> None:
        """``linger_s``: when wake-ups come closer than ``2 * linger_s``, wait that long for more before a batch."""
        self._linger_s = linger_s
        self.lingered = 0  # batches that waited for more (the path was busy)
        self._queue: collections.deque[_T] = collections.deque()
        self._capacity = capacity
        self._block = block_when_full
        self.policy = "block" if block_when_full else "drop_oldest"
        self.blocked_s = 0.0  # time the worker waited for room (block policy)
        self.dropped = 0
        self._handle = handle
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, item: _T) -> None:
        with self._cond:
            if len(self._queue) >= self._capacity and self._block:
                started_s = time.perf_counter()
                self._cond.notify_all()  # a lingering lane: stop waiting for more, the queue is full
                while len(self._queue) >= self._capacity and not self._closed:
                    self._cond.wait(0.1)
                self.blocked_s += time.perf_counter() - started_s
            if self._closed and self._block:
                return  # the lane ended (a failed sink): the run is stopping with that error
            if len(self._queue) >= self._capacity:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(item)
            if len(self._queue) == 1:  # the thread only waits on an empty queue
                self._cond.notify()

    def depth(self) -> int:
        return len(self._queue)

    def close(self, timeout_s: float) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                _log.warning("%s did not drain within %.1f s; %d results left", self._thread.name, timeout_s,
                             len(self._queue))

    def _run(self) -> None:
        linger_s, last_take_s = self._linger_s, float("-inf")
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                if linger_s and not self._closed and time.perf_counter() - last_take_s < 2 * linger_s:
                    self.lingered += 1  # busy: one wake-up for what arrives meanwhile (put does not notify again)
                    self._cond.wait_for(lambda: self._closed or len(self._queue) >= self._capacity, linger_s)
                last_take_s = time.perf_counter()
                batch = list(self._queue)
                if self._block and len(batch) >= self._capacity:
                    self._cond.notify_all()  # a worker may wait for room
                self._queue.clear()
            if not self._handle(batch):
                with self._cond:
                    self._queue.clear()
                    self._closed = True
                    self._cond.notify_all()
                return


class Dispatcher:
    """The sink path and the callback path, started, fed and closed together (see the module docstring)."""

    def __init__(self, capacity: int, times: StageTimes, payload_of: Callable[[Result], dict[str, Any] | None],
                 name: str = "edge_sdk-dispatcher", block_when_full: bool = False) -> None:
        """``payload_of(result)`` builds what the sinks get, on the sink thread rather than the worker."""
        self._payload_of = payload_of
        self._times = times
        self._callbacks: list[tuple[str, ResultCallback]] = []
        self._publishers: list[PublishMany] = []
        self._callback_lane: _Lane[Result] = _Lane(capacity, block_when_full, self._run_callbacks, name)
        self._sink_lane: _Lane[Result] = _Lane(capacity, True, self._publish, f"{name}-sinks",
                                               linger_s=_LINGER_REPLAY_S if block_when_full else _LINGER_S)
        self.error: BaseException | None = None
        self.callback_errors = 0
        self.handed = 0  # payloads given to the publishers
        self.published = 0  # payloads every sink accepted

    @property
    def policy(self) -> str:
        """The callback path's policy; the sink path always blocks."""
        return self._callback_lane.policy

    @property
    def sink_policy(self) -> str:
        return self._sink_lane.policy

    @property
    def dropped(self) -> int:
        """Results dropped on the callback path (the sink path drops none)."""
        return self._callback_lane.dropped

    @property
    def sink_dropped(self) -> int:
        return self._sink_lane.dropped

    @property
    def blocked_s(self) -> float:
        """Time the worker waited for room on either path."""
        return self._callback_lane.blocked_s + self._sink_lane.blocked_s

    @property
    def sink_blocked_s(self) -> float:
        return self._sink_lane.blocked_s

    @property
    def sink_lingered(self) -> int:
        """Sink batches that waited for more results, the path being busy."""
        return self._sink_lane.lingered

    def add_callback(self, callback: ResultCallback, name: str | None = None) -> None:
        label = name or str(getattr(callback, "__qualname__", repr(callback)))
        self._callbacks.append((label, callback))

    def add_publisher(self, publish_many: PublishMany) -> None:
        """``publish_many(payloads)`` gets the payloads of each batch, in order; errors stop the run. When it
        returns an int, that is how many it accepted (``published`` counts no more)."""
        self._publishers.append(publish_many)

    def start(self) -> Dispatcher:
        self._callback_lane.start()
        self._sink_lane.start()
        return self

    def submit(self, result: Result, publish: bool) -> None:
        """On the worker: may wait for room on the sink path, or on both paths with every_frame."""
        if publish and self._publishers:
            self._sink_lane.put(result)
        if self._callbacks:  # no thread hand-off per result when nobody listens
            self._callback_lane.put(result)

    def depth(self) -> int:
        """Results waiting on the callback path."""
        return self._callback_lane.depth()

    def sink_depth(self) -> int:
        return self._sink_lane.depth()

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued on both paths (up to ``timeout_s`` each), then stop; idempotent."""
        self._sink_lane.close(timeout_s)
        self._callback_lane.close(timeout_s)

    def _run_callbacks(self, batch: list[Result]) -> bool:
        for result in batch:
            for name, callback in self._callbacks:
                try:
                    callback(result)
                except Exception:  # noqa: BLE001 - user code: counted and logged, never fatal to the stream
                    self.callback_errors += 1
                    _log.exception("result callback %s failed (the stream goes on)", name)
        return True

    def _publish(self, batch: list[Result]) -> bool:
        started = time.perf_counter()
        try:
            payloads = [self._payload_of(result) for result in batch]
            published = len(payloads)
            for publish_many in self._publishers:
                accepted = publish_many(payloads)
                if isinstance(accepted, int):  # a fan-out that refused some (not JSON) says how many it took
                    published = min(published, accepted)
        except Exception as exc:  # noqa: BLE001 - any sink failure ends the run, with its cause
            self.error = exc
            _log.error("publishing failed: %s", exc)
            return False
        self.handed += len(payloads)
        self.published += published
        self._times.record("publish", (time.perf_counter() - started) * 1000.0 / len(payloads))
        return True
