"""Map the MCU's millisecond clock onto host time.

Each SENSOR frame carries the MCU's ``millis()``. The host sees it some transport delay later.
The offset ``host_receive - mcu_time`` is smallest for the frame that waited least, so the
running minimum over a window is the best estimate of the true offset; using a window (not all
history) lets it follow the drift between two crystals. The 32-bit counter wraps after 49.7 days;
a jump backwards that is not a wrap means the MCU rebooted, and the history starts over.
"""

from __future__ import annotations

from collections import deque

__all__ = ["ClockMapper"]

_WRAP = 1 << 32


class ClockMapper:
    """Turns ``(mcu_time_ms, host_receive_s)`` pairs into host timestamps (same clock as the input)."""

    def __init__(self, window_s: float = 30.0) -> None:
        self._window_s = window_s
        self._last_raw: int | None = None
        self._wraps = 0
        # (receive_s, offset_s) with offsets increasing: the front is the window's minimum.
        self._minima: deque[tuple[float, float]] = deque()
        self.resets = 0

    def reset(self) -> None:
        """Forget the history (after a reconnect the MCU may have rebooted)."""
        self._last_raw = None
        self._wraps = 0
        self._minima.clear()

    def to_host(self, mcu_time_ms: int, received_s: float) -> float:
        """Host time at which the MCU took a reading stamped ``mcu_time_ms``."""
        if self._last_raw is not None and mcu_time_ms < self._last_raw:
            if self._last_raw - mcu_time_ms > _WRAP // 2:
                self._wraps += 1  # the 32-bit counter wrapped
            elif self._last_raw - mcu_time_ms > 1000:
                self.reset()  # the clock went back by more than a reordering could explain
                self.resets += 1
        self._last_raw = mcu_time_ms
        mcu_s = (mcu_time_ms + self._wraps * _WRAP) / 1000.0
        offset = received_s - mcu_s
        while self._minima and self._minima[-1][1] >= offset:
            self._minima.pop()
        self._minima.append((received_s, offset))
        while self._minima[0][0] < received_s - self._window_s:
            self._minima.popleft()
        # Never in the future of when it arrived.
        return min(mcu_s + self._minima[0][1], received_s)
