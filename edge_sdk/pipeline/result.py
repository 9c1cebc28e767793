"""The result of one inference, and its JSON payload (schema ``edge_sdk.result/2``).

A consumer tells the versions apart by ``schema``: ``edge_sdk.result/2`` carries ``task`` (the
kind) and ``result`` (the typed result: a classifier's label, confidence and scores; a detector's
boxes...); ``edge_sdk.result/1``, from earlier devices, has ``label``, ``confidence`` and ``scores``
at the top. Both schemas are in ``edge_sdk/schemas/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_sdk.sinks.mqtt.payload import EncodedPayload

if TYPE_CHECKING:
    from edge_sdk.tasks.base import TaskResult

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
    task_result: TaskResult | None = None  # the typed result; label/confidence/scores mirror a classifier's

    def to_payload(self, model: Mapping[str, str]) -> dict[str, Any]:
        """JSON-ready fields of ``edge_sdk.result/2`` (``/1`` without a task result); the publisher adds
        device, boot, seq and replayed.

        An :class:`~edge_sdk.sinks.mqtt.payload.EncodedPayload` (a dict), so the sink path encodes it
        to JSON once, however many times it is checked, stamped and stored.
        """
        inputs: dict[str, Any] = {"frame_ts": round(self.frame_ts, 4)}
        if self.text is not None:
            inputs["text"] = self.text
        sensor = self.sensor
        if sensor is not None:
            sensor_ts, skew_ms = self.sensor_ts, self.skew_ms
            inputs["sensor_ts"] = None if sensor_ts is None else round(sensor_ts, 4)
            inputs["sensor"] = dict(sensor)
            inputs["skew_ms"] = None if skew_ms is None else round(skew_ms, 2)
        task = self.task_result
        timing_ms = {k: round(v, 3) for k, v in self.timing_ms.items()}
        if task is not None:
            return EncodedPayload(schema="edge_sdk.result/2", ts=round(self.ts, 4), task=task.kind, result=task.to_json(),
                                  inputs=inputs, model=dict(model), timing_ms=timing_ms)
        return EncodedPayload(schema="edge_sdk.result/1", ts=round(self.ts, 4), label=self.label,
                              confidence=round(self.confidence, 5),
                              scores={k: round(v, 5) for k, v in self.scores.items()},
                              inputs=inputs, model=dict(model), timing_ms=timing_ms)
