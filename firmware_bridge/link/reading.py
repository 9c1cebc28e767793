"""The reading type every sensor path produces (binary protocol or line mode), and the
latest-reading slot that :class:`~firmware_bridge.link.BridgeLink` and
:class:`~firmware_bridge.link.linemode.LineReader` both keep."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LatestReading", "SensorReading"]


@dataclass(frozen=True)
class SensorReading:
    """Channel values in physical units, stamped in host wall-clock time (``time.time()``).

    ``timestamp_s`` is when the MCU measured (its clock mapped to the host's) or, when the device
    sends no time, when the line arrived. ``received_s`` is always the arrival time, so
    ``received_s - timestamp_s`` is the transport delay.
    """

    values: Mapping[str, float]
    timestamp_s: float
    received_s: float
    mcu_time_ms: int | None = None
    seq: int | None = None
    source: str = ""

    def age_s(self, now_s: float) -> float:
        """Seconds since the reading was taken, by the host clock ``now_s``."""
        return now_s - self.timestamp_s


class LatestReading:
    """The newest reading of a link (latest wins), and a way to wait for the next one.

    It waits on its owner's condition rather than a lock of its own, so that a waiter also wakes
    when the owner closes, under the lock that already guards the owner's state.
    """

    def __init__(self, cond: threading.Condition) -> None:
        self._cond = cond
        self._reading: SensorReading | None = None

    def put(self, reading: SensorReading) -> None:
        """Replace the newest reading and wake the waiters (called by the reader thread)."""
        with self._cond:
            self._reading = reading
            self._cond.notify_all()

    def get(self, max_age_s: float | None = None) -> SensorReading | None:
        """The newest reading, or None if there is none or it is older than ``max_age_s``."""
        with self._cond:
            reading = self._reading
        if (
            reading is not None
            and max_age_s is not None
            and reading.age_s(time.time()) > max_age_s
        ):
            return None
        return reading

    def wait_next(
        self, timeout_s: float, closing: threading.Event
    ) -> SensorReading | None:
        """The first reading put after this call; None on timeout or once ``closing`` is set.

        The owner must notify its condition after setting ``closing``.
        """
        with self._cond:
            before = self._reading
            self._cond.wait_for(
                lambda: self._reading is not before or closing.is_set(), timeout_s
            )
            return None if self._reading is before else self._reading
