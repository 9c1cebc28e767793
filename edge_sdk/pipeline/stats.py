"""Per-stage timing and counters: cheap to record on every frame, summarised on demand."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["RateMeter", "StageTimes"]


class StageTimes:
    """The last ``window`` durations of each named stage, in milliseconds.

    ``record`` is one array store and an index bump (no allocation on the per-frame path);
    percentiles are computed only when :meth:`summary` is asked for.
    """

    def __init__(self, stages: tuple[str, ...], window: int = 2048) -> None:
        self._window = window
        self._values = {name: np.zeros(window, dtype=np.float64) for name in stages}
        self._counts = dict.fromkeys(stages, 0)
        self._lock = threading.Lock()

    def record(self, stage: str, duration_ms: float) -> None:
        count = self._counts.get(stage)
        if count is None:  # a stage not declared up front (e.g. a sink's own timing)
            with self._lock:
                self._values.setdefault(stage, np.zeros(self._window, dtype=np.float64))
                self._counts.setdefault(stage, 0)
            count = 0
        self._values[stage][count % self._window] = duration_ms
        self._counts[stage] = count + 1

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for stage, values in list(self._values.items()):
            count = self._counts[stage]
            if count == 0:
                continue
            recent = values[: min(count, self._window)]
            p50, p95, p99 = np.percentile(recent, (50, 95, 99))
            out[stage] = {"p50_ms": round(float(p50), 3), "p95_ms": round(float(p95), 3),
                          "p99_ms": round(float(p99), 3), "count": count}
        return out


@dataclass
class RateMeter:
    """Events per second over the whole run and over a recent window."""

    started_s: float = field(default_factory=time.monotonic)
    count: int = 0
    _window_start_s: float = field(default_factory=time.monotonic)
    _window_count: int = 0
    _recent_rate: float = 0.0

    def tick(self) -> None:
        self.count += 1
        self._window_count += 1

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_s
        return self.count / elapsed if elapsed > 0 else 0.0

    def recent_rate(self) -> float:
        now = time.monotonic()
        elapsed = now - self._window_start_s
        if elapsed >= 1.0:
            self._recent_rate = self._window_count / elapsed
            self._window_start_s, self._window_count = now, 0
        return self._recent_rate
