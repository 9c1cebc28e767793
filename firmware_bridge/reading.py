"""The reading type every sensor path produces (binary protocol or line mode)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["SensorReading"]


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
