"""Example results as the pipeline hands them to a publisher (no ``seq``, ``boot``, ``replayed``)."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["example_result"]

_LABELS = ("left", "center", "right", "absent", "blocked")


def example_result(i: int = 0, ts: float | None = None) -> dict[str, Any]:
    """A valid ``edge_sdk.result/1`` body for the seek world; ``i`` picks the label."""
    now = time.time() if ts is None else ts
    label = _LABELS[i % len(_LABELS)]
    scores = {name: (0.93 if name == label else 0.0175) for name in _LABELS}
    return {
        "ts": now,
        "label": label,
        "confidence": 0.93,
        "scores": scores,
        "inputs": {"frame_ts": now - 0.02, "text": "find the red circle", "sensor_ts": now - 0.035,
                   "sensor": {"distance_cm": 42.0}, "skew_ms": 15.0},
        "model": {"name": "seek", "version": "3", "quant": "int8", "sha256": "ab" * 32},
        "timing_ms": {"capture": 4.1, "preprocess": 1.2, "invoke": 8.5, "post": 0.2},
    }
