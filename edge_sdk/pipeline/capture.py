"""The capture thread: owns a frame source and fills a slot until end of stream, error or stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

from edge_sdk.errors import SourceError
from edge_sdk.pipeline.slot import BlockingSlot, LatestSlot
from edge_sdk.sources.base import FrameSource
from edge_sdk.sources.config import RunningMode
from edge_sdk.sources.frame import Frame

__all__ = ["CaptureThread"]

log = logging.getLogger(__name__)

_PUT_POLL_S = 0.1  # how often a blocked put re-checks for stop()


class CaptureThread:
    """Reads ``source`` on a named daemon thread into ``slot``.

    The slot's policy decides what happens when inference is slower: :class:`LatestSlot` drops
    (realtime), :class:`BlockingSlot` makes capture wait (every_frame); :meth:`for_source` picks it
    from the source's running mode. At end of stream the slot is closed; on an error the slot is closed
    with it, so the consumer's ``get`` raises it, and :attr:`error` holds it for the owner.
    The thread owns the source and closes it when it ends.
    """

    def __init__(self, source: FrameSource, slot: LatestSlot[Frame] | BlockingSlot[Frame],
                 name: str | None = None, on_first_frame: Callable[[Frame], object] | None = None,
                 prepare: Callable[[Frame], Frame] | None = None) -> None:
        """``on_first_frame(frame)`` runs on this thread before the first frame is handed on (the replay
        clock of the traces starts there); ``prepare(frame)`` gives the frame handed on (the model's image
        input made ahead: :mod:`edge_sdk.pipeline.ahead`)."""
        self.source, self.slot = source, slot
        self.on_first_frame = on_first_frame
        self.prepare = prepare
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name or f"edge-capture-{source.name}", daemon=True)

    @classmethod
    def for_source(cls, source: FrameSource, capacity: int = 4, on_first_frame: Callable[[Frame], object] | None = None,
                   prepare: Callable[[Frame], Frame] | None = None) -> CaptureThread:
        """every_frame: up to ``capacity`` frames ahead, refilled from half (one wake-up of this thread
        for several frames; see :class:`BlockingSlot`); realtime: the latest frame only."""
        every_frame = source.mode is RunningMode.EVERY_FRAME
        slot: LatestSlot[Frame] | BlockingSlot[Frame] = (
            BlockingSlot(capacity, refill_at=capacity // 2) if every_frame else LatestSlot())
        return cls(source, slot, on_first_frame=on_first_frame, prepare=prepare)

    @property
    def name(self) -> str:
        return self._thread.name

    def start(self) -> Self:
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop capturing and close the source; idempotent. Raises nothing: read :attr:`error`."""
        self._stop.set()
        self.source.close()  # wakes a reconnect backoff or pacing wait at once
        self.slot.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("%s did not stop within %.1f s (a read is blocked in the driver)", self.name, timeout_s)

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                if self.on_first_frame is not None:
                    first, self.on_first_frame = self.on_first_frame, None
                    first(frame)
                if self.prepare is not None:
                    frame = self.prepare(frame)
                while not self.slot.put(frame, timeout_s=_PUT_POLL_S):
                    if self._stop.is_set() or self.slot.closed:
                        return
        except SourceError as exc:
            if not self._stop.is_set():
                error = exc
        except BaseException as exc:  # noqa: BLE001 - a bug in a source must still reach the owner
            if not self._stop.is_set():
                error = exc
        finally:
            if error is not None:
                self.error = error
                log.error("%s stopped: %s", self.name, error)
            self.slot.close(error)
            self.source.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
