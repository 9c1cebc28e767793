"""The shadow run: the candidate model on live frames beside the serving one, nothing published.

The pipeline's worker hands each frame and its result to :meth:`ShadowRun.offer`, which only queues
them (a bounded queue, drop oldest, counted): the candidate runs on the update thread, so the
serving model's frame rate is untouched except for the CPU the shadow run itself takes.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from edge_sdk.model import FusionModel
from edge_sdk.pipeline.result import Result
from edge_sdk.sources.frame import Frame
from edge_sdk.update.trial import latency_figures

__all__ = ["ShadowReport", "ShadowRun"]


@dataclass(frozen=True)
class ShadowReport:
    frames: int
    agreed: int
    errors: int
    dropped: int
    last_error: str | None
    figures: dict[str, Any]

    @property
    def agreement(self) -> float:
        return self.agreed / self.frames if self.frames else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "agreement": round(self.agreement, 4), "errors": self.errors,
                "dropped": self.dropped, "last_error": self.last_error, **self.figures}


class ShadowRun:
    def __init__(self, candidate: FusionModel, queue_size: int = 4) -> None:
        self.candidate = candidate
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=queue_size)
        self.dropped = 0
        self.active = False

    def offer(self, frame: Frame, result: Result) -> None:
        """On the worker: queue a copy of the frame's inputs and the serving model's label."""
        if not self.active:
            return
        item = (frame.pixels.copy(), frame.color_order, result.text, result.sensor, result.label)
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # drop_oldest: the newest frame says most about now
                    self.dropped += 1
                except queue.Empty:
                    pass

    def run(self, frames: int, timeout_s: float, stop: threading.Event | None = None) -> ShadowReport:
        """Run the candidate on ``frames`` live frames (or as many as come within ``timeout_s``, or until ``stop``)."""
        self.active = True
        done = agreed = errors = 0
        last_error = None
        latencies: list[float] = []
        deadline = time.monotonic() + timeout_s
        try:
            while done + errors < frames and time.monotonic() < deadline and not (stop and stop.is_set()):
                try:
                    pixels, color_order, text, sensor, label = self._queue.get(timeout=0.25)
                except queue.Empty:
                    continue
                started = time.perf_counter()
                try:
                    prediction = self.candidate.predict(pixels, text, sensor, color_order)
                except Exception as exc:  # noqa: BLE001 - a failure in shadow is a finding, not a crash
                    errors += 1
                    last_error = f"{type(exc).__name__}: {exc}"
                    continue
                latencies.append((time.perf_counter() - started) * 1000.0)
                done += 1
                agreed += prediction.label == label
        finally:
            self.active = False
        return ShadowReport(done, agreed, errors, self.dropped, last_error, latency_figures(latencies))
