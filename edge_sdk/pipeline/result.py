"""The result of one fused inference, and its JSON payload (schema ``edge_sdk.result/1``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Result"]


@dataclass(frozen=True, slots=True)
class Result:
    """What the pipeline decided for one frame, with the inputs it used and how long each stage took.

    Timestamps are wall-clock seconds since the epoch (``*_ts``), so consumers on other machines can
    compare them; ``media_t_s`` is the frame's position in a file or clip (None for live cameras).
    """

    ts: float
    label: str | None
    confidence: float
    scores: Mapping[str, float]
    frame_ts: float
    frame_index: int
    text: str | None
    text_ts: float | None
    sensor: Mapping[str, float] | None
    sensor_ts: float | None
    skew_ms: float | None
    timing_ms: Mapping[str, float]
    media_t_s: float | None = None

    def to_payload(self, model: Mapping[str, str]) -> dict[str, Any]:
        """JSON-ready fields of ``edge_sdk.result/1``; the publisher adds schema, device, boot, seq."""
        inputs: dict[str, Any] = {"frame_ts": round(self.frame_ts, 4)}
        if self.text is not None:
            inputs["text"] = self.text
        if self.sensor is not None:
            inputs["sensor_ts"] = round(self.sensor_ts, 4) if self.sensor_ts is not None else None
            inputs["sensor"] = dict(self.sensor)
            inputs["skew_ms"] = round(self.skew_ms, 2) if self.skew_ms is not None else None
        return {
            "ts": round(self.ts, 4),
            "label": self.label,
            "confidence": round(self.confidence, 5),
            "scores": {k: round(v, 5) for k, v in self.scores.items()},
            "inputs": inputs,
            "model": dict(model),
            "timing_ms": {k: round(v, 3) for k, v in self.timing_ms.items()},
        }
