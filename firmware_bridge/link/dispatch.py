"""A named thread that runs user callbacks off the I/O thread, with a bounded drop-oldest queue.

A slow or failing callback must never stall the serial reader: callbacks get their own thread,
the queue keeps the newest items when it is full (a stale reading is worth less than a new one),
and every drop and every callback exception is counted and logged, never swallowed silently.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["CallbackDispatcher"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class CallbackDispatcher(Generic[T]):
    """Deliver items to ``callback`` on a thread named ``name``. ``close()`` is idempotent."""

    def __init__(
        self, name: str, callback: Callable[[T], None], max_queue: int
    ) -> None:
        self._callback = callback
        self._queue: deque[T] = deque()
        self._max_queue = max_queue
        self._cond = threading.Condition()
        self._closing = False
        self.drops = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        with self._cond:
            if self._closing:
                return
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self.drops += 1
            self._queue.append(item)
            self._cond.notify()

    def close(self, timeout_s: float = 2.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    return
                item = self._queue.popleft()
            try:
                self._callback(item)
            except Exception:  # a user callback: log and count, keep delivering
                self.errors += 1
                log.exception("callback %r failed on %r", self._callback, item)
