"""Hand-off between the capture thread and the inference worker.

Two policies behind one interface (``put``, ``get``, ``close``, ``drops``):

* :class:`LatestSlot` -- latest value wins (drop policy ``"latest"``): a camera never waits for
  inference; a frame nobody read before the next one arrived is dropped and counted.
* :class:`BlockingSlot` -- a bounded FIFO with drop policy ``"block"``: the producer waits for room,
  so every frame is processed (``every_frame`` playback).

``close(error)`` ends the stream: ``get`` returns what is left, then None (end of stream), or raises
the producer's error so it reaches the owner instead of dying with the thread.
"""

from __future__ import annotations

import collections
import threading
from typing import Generic, Literal, TypeVar

from edge_sdk.errors import SourceError

__all__ = ["BlockingSlot", "DropPolicy", "LatestSlot", "make_slot"]

T = TypeVar("T")
DropPolicy = Literal["latest", "block"]


class _Slot(Generic[T]):
    policy: DropPolicy

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._closed = False
        self._error: BaseException | None = None
        self.drops = 0
        self.puts = 0

    def close(self, error: BaseException | None = None) -> None:
        """No more values; ``error`` (if any) is raised to the consumer once the slot drains."""
        with self._cond:
            if not self._closed:
                self._closed, self._error = True, error
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def _end(self) -> None:
        """Called with the lock held when nothing is left: end of stream or the producer's error."""
        if self._error is not None:
            if isinstance(self._error, SourceError):
                raise self._error
            raise SourceError(f"frame producer failed: {self._error!r}") from self._error


class LatestSlot(_Slot[T]):
    """Holds one value; ``put`` replaces it, ``get`` waits for a value the caller has not seen."""

    policy: DropPolicy = "latest"

    def __init__(self) -> None:
        super().__init__()
        self._value: T | None = None
        self._fresh = False

    def put(self, value: T, timeout_s: float | None = None) -> bool:
        """Store ``value`` (never blocks); the unread previous value is dropped and counted."""
        with self._cond:
            if self._closed:
                return False
            if self._fresh:
                self.drops += 1
            self._value, self._fresh = value, True
            self.puts += 1
            self._cond.notify()
        return True

    def get(self, timeout_s: float | None = None) -> T | None:
        """A value newer than the last one returned; None on timeout or at end of stream."""
        with self._cond:
            if not self._fresh:
                if self._closed:
                    self._end()
                    return None
                self._cond.wait_for(lambda: self._fresh or self._closed, timeout_s)
                if not self._fresh:
                    if self._closed:
                        self._end()
                    return None
            self._fresh = False
            value, self._value = self._value, None
            return value

    def depth(self) -> int:
        return 1 if self._fresh else 0


class BlockingSlot(_Slot[T]):
    """A bounded FIFO whose ``put`` waits for room: nothing is dropped (``drops`` stays 0).

    A producer that found it full is woken once the consumer has taken it down to ``refill_at``
    values, not at the first free place: it then produces ``capacity - refill_at`` values in one
    go, one wake-up for several. A wake-up costs more than a small frame's decode on a machine
    whose idle CPU halts; at one wake-up per frame the consumer ends up waiting for every frame.
    """

    policy: DropPolicy = "block"

    def __init__(self, capacity: int = 2, refill_at: int | None = None) -> None:
        """``refill_at``: wake a waiting producer at this depth (default ``capacity - 1``: at the first free place)."""
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1. Got: {capacity}")
        refill_at = capacity - 1 if refill_at is None else refill_at
        if not 0 <= refill_at < capacity:
            raise ValueError(f"refill_at must be 0 to capacity - 1 ({capacity - 1}). Got: {refill_at}")
        super().__init__()
        self.capacity, self.refill_at = capacity, refill_at
        self._items: collections.deque[T] = collections.deque()

    def put(self, value: T, timeout_s: float | None = None) -> bool:
        """Append ``value``, waiting while full; False if closed or timed out (value not stored)."""
        with self._cond:
            if len(self._items) >= self.capacity and not self._cond.wait_for(
                lambda: len(self._items) < self.capacity or self._closed, timeout_s
            ):
                return False
            if self._closed:
                return False
            self._items.append(value)
            self.puts += 1
            if len(self._items) == 1:  # only an empty queue can have a consumer waiting
                self._cond.notify_all()
        return True

    def get(self, timeout_s: float | None = None) -> T | None:
        with self._cond:
            if not self._items and not self._cond.wait_for(lambda: self._items or self._closed, timeout_s):
                return None
            if not self._items:
                self._end()
                return None
            value = self._items.popleft()
            if len(self._items) == self.refill_at:  # a producer waits only on a full queue: wake it here
                self._cond.notify_all()
            return value

    def depth(self) -> int:
        return len(self._items)


def make_slot(policy: DropPolicy, capacity: int = 2) -> LatestSlot[T] | BlockingSlot[T]:
    if policy == "latest":
        return LatestSlot()
    if policy == "block":
        return BlockingSlot(capacity)
    raise ValueError(f"drop policy must be 'latest' or 'block'. Got: {policy!r}")
