"""The model on trial after a swap: serves every frame, with the old model as its safety net.

The pipeline's worker calls ``prepare``, ``infer`` and ``decode`` as on any model. A frame the new
model fails (an exception, or outputs that are not finite) is served again by the old model, so
the stream keeps its results, and the failure is counted for the health window. The time the new
model takes per frame (prepare + invoke + decode) is kept for its latency budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from edge_sdk.model import FusionModel, Prediction

__all__ = ["TrialModel"]

_log = logging.getLogger(__name__)
_MAX_LATENCIES = 4096


class TrialModel:
    """Looks like the :class:`FusionModel` it tries; owned by the pipeline's worker thread."""

    def __init__(self, new: FusionModel, old: FusionModel) -> None:
        self.new, self.old = new, old
        self.manifest, self.signature, self.task = new.manifest, new.signature, new.task
        self.bundle, self.backend = new.bundle, new.backend
        self._lock = threading.Lock()
        self.served = 0  # frames the new model answered
        self.errors = 0  # frames it failed (answered by the old model)
        self.last_error: str | None = None
        self._latencies_ms: list[float] = []
        self._args: tuple[Any, ...] = ()
        self._active: FusionModel = new
        self._started = 0.0

    @property
    def roles(self) -> tuple[str, ...]:
        return self.new.roles

    @property
    def labels(self) -> tuple[str, ...]:
        return self.new.labels

    def prepare(self, image: np.ndarray | None = None, text: str | None = None,
                sensor: Mapping[str, float] | None = None, color_order: Any = "BGR",
                tensors_in: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        self._args = (image, text, sensor, color_order, tensors_in)
        self._started = time.perf_counter()
        self._active = self.new
        try:
            return self.new.prepare(*self._args)
        except Exception as exc:  # noqa: BLE001 - any failure of the new model is a health failure
            self._failed(exc)
            return self.old.prepare(*self._args)

    def infer(self, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._active is not self.new:
            return self.old.infer(tensors)
        try:
            outputs = self.new.infer(tensors)
            bad = [name for name, value in outputs.items() if value.dtype.kind == "f" and not np.isfinite(value).all()]
            if bad:
                raise ValueError(f"outputs {bad} are not finite")
            return outputs
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return self.old.infer(self.old.prepare(*self._args))

    def decode(self, outputs: Mapping[str, np.ndarray]) -> Prediction:
        if self._active is not self.new:
            return self.old.decode(outputs)
        try:
            prediction = self.new.decode(outputs)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return self.old.decode(self.old.infer(self.old.prepare(*self._args)))
        with self._lock:
            self.served += 1
            if len(self._latencies_ms) < _MAX_LATENCIES:
                self._latencies_ms.append((time.perf_counter() - self._started) * 1000.0)
        return prediction

    def figures(self) -> dict[str, Any]:
        with self._lock:
            latencies = list(self._latencies_ms)
            served, errors = self.served, self.errors
        return {"served": served, "errors": errors, "last_error": self.last_error, **latency_figures(latencies)}

    def reset(self) -> None:
        self.new.reset()

    def close(self) -> None:
        """The pipeline closing while a trial runs: both models go."""
        self.new.close()
        self.old.close()

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
        self._active = self.old
        _log.warning("the model on trial failed a frame (served by the previous model): %s", exc)


def latency_figures(latencies_ms: list[float]) -> dict[str, float | None]:
    if not latencies_ms:
        return {"latency_p50_ms": None, "latency_p95_ms": None}
    values = np.asarray(latencies_ms)
    return {"latency_p50_ms": round(float(np.percentile(values, 50)), 3),
            "latency_p95_ms": round(float(np.percentile(values, 95)), 3)}
