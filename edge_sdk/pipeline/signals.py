"""SIGINT and SIGTERM end a run cleanly: they ask it to stop, the run finishes and returns.

``Pipeline.run`` and ``Runtime.run`` install these handlers while they run on the main thread, so
Ctrl-C (or ``systemctl stop``) ends a script with its results flushed and no KeyboardInterrupt
traceback; the previous handlers come back when the run returns. A second Ctrl-C during the same
run interrupts at once (KeyboardInterrupt), for a run that does not end.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["stop_on_signals"]

_log = logging.getLogger(__name__)


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM call ``stop`` (main thread only; elsewhere the caller handles signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: the run did not end after the first
        received.append(signum)
        _log.info("received %s: stopping", signal.Signals(signum).name)
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
