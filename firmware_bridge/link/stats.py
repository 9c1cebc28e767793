"""Counters of a link, as a frozen snapshot, and a rolling latency window."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["LatencyWindow", "LinkStats"]


@dataclass(frozen=True)
class LinkStats:
    """What :meth:`BridgeLink.stats` returns. Counters are totals since the link was created."""

    state: str
    frames_ok: int
    crc_errors: int
    cobs_errors: int
    malformed: int
    oversize: int
    resyncs: int
    bytes_rx: int
    bytes_tx: int
    frames_tx: int
    sensor_frames: int
    heartbeats_rx: int
    commands_sent: int
    acks: int
    nacks: int
    duplicate_acks: int  # "already applied": the command took effect once, an earlier ACK was lost
    retries: int
    command_timeouts: int
    link_losses: int
    reconnects: int
    readings_before_handshake: int  # SENSOR frames dropped: no HELLO had named their channels yet
    reader_failures: int  # 1 when the reader thread died of an unexpected error (see reader_failure)
    device_failsafe: bool
    callback_errors: int
    callback_drops: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None


class LatencyWindow:
    """The last ``size`` command round trips, in ms; thread-safe."""

    def __init__(self, size: int = 2048) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, latency_ms: float) -> None:
        with self._lock:
            self._values.append(latency_ms)

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile, ``q`` in [0, 100]; None when empty."""
        with self._lock:
            values = sorted(self._values)
        if not values:
            return None
        rank = max(0, min(len(values) - 1, round(q / 100.0 * (len(values) - 1))))
        return values[rank]

    def values(self) -> list[float]:
        with self._lock:
            return list(self._values)
