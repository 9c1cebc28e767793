"""Which model serves which frame: the running model, a pending swap, and the model info per frame.

A swap is offered by any thread (the update agent) and taken by the inference worker between two
frames, so no frame goes without a result and every payload names the model that made it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_sdk.model import FusionModel

__all__ = ["ModelSwap", "model_info"]


def model_info(model: FusionModel) -> dict[str, Any]:
    """The ``model`` block of a result payload."""
    manifest = model.manifest
    return {"name": manifest.model.name, "version": manifest.model.version,
            "quant": manifest.quantization, "sha256": manifest.tflite_sha256}


class ModelSwap:
    """The serving model and at most one pending replacement; thread-safe."""

    def __init__(self, model: FusionModel) -> None:
        self.current = model
        # (first frame index, model info): a swapped-in model names itself from its first frame on
        self._infos: list[tuple[int, dict[str, Any]]] = [(-1, model_info(model))]
        self._pending: tuple[FusionModel, threading.Event, list[FusionModel]] | None = None
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        return self._pending is not None  # read without the lock: the worker checks it every frame

    def replace_now(self, model: FusionModel) -> FusionModel:
        """Swap at once (no worker is running); returns the model replaced."""
        with self._lock:
            old, self.current = self.current, model
            self._infos.append((-1, model_info(model)))
            return old

    def offer(self, model: FusionModel) -> tuple[threading.Event, list[FusionModel]]:
        """Queue ``model`` for the worker; the event is set, and the list holds the replaced model, once taken."""
        done, replaced = threading.Event(), list["FusionModel"]()
        with self._lock:
            self._pending = (model, done, replaced)
        return done, replaced

    def withdraw(self, model: FusionModel) -> bool:
        """Cancel the offer of ``model``; False when the worker has already taken it."""
        with self._lock:
            if self._pending is not None and self._pending[0] is model:
                self._pending = None
                return True
            return False

    def take(self, next_frame_index: int) -> FusionModel:
        """On the worker, between two frames: the model that serves ``next_frame_index`` on."""
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is None:
                return self.current
            model, done, replaced = pending
            replaced.append(self.current)
            self.current = model
            self._infos.append((next_frame_index, model_info(model)))
        done.set()
        return model

    def info_at(self, frame_index: int) -> dict[str, Any]:
        for first, info in reversed(self._infos):
            if frame_index >= first:
                return info
        return self._infos[0][1]
