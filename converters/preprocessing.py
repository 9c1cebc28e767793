"""The preprocessing a trained model was fitted with: labels plus one spec per modality.

It is saved beside the Keras model, written into the bundle manifest, and used to turn raw
samples into tensors through ``edge_sdk.preprocess`` (the device's own code).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.preprocess import (
    ImageSpec,
    SensorSpec,
    Tokenizer,
    TokenizerSpec,
    normalize_image,
    prepare_image,
    scale_sensor,
)

__all__ = ["Preprocessing"]


@dataclass(frozen=True)
class Preprocessing:
    labels: tuple[str, ...]
    image: ImageSpec | None = None
    text: TokenizerSpec | None = None
    sensor: SensorSpec | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m in ("image", "text", "sensor") if getattr(self, m) is not None)

    def tokenizer(self) -> Tokenizer:
        if self.text is None:
            raise ValueError("this model has no text input")
        return Tokenizer(self.text)

    def tensors(
        self,
        images_bgr: list[np.ndarray] | None = None,
        texts: list[str] | None = None,
        sensors: list[Mapping[str, float]] | None = None,
    ) -> dict[str, np.ndarray]:
        """Batch tensors exactly as the device makes them, one sample at a time."""
        out: dict[str, np.ndarray] = {}
        if self.image is not None and images_bgr is not None:
            out["image"] = np.stack([normalize_image(prepare_image(im, self.image, "BGR"), self.image) for im in images_bgr])
        if self.text is not None and texts is not None:
            out["text"] = self.tokenizer().encode_batch(texts)
        if self.sensor is not None and sensors is not None:
            out["sensor"] = np.stack([scale_sensor(s, self.sensor) for s in sensors])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "image": self.image.to_dict() if self.image else None,
            "text": self.text.to_dict() if self.text else None,
            "sensor": self.sensor.to_dict() if self.sensor else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        return cls(
            labels=tuple(data["labels"]),
            image=ImageSpec.from_dict(data["image"]) if data.get("image") else None,
            text=TokenizerSpec.from_dict(data["text"]) if data.get("text") else None,
            sensor=SensorSpec.from_dict(data["sensor"]) if data.get("sensor") else None,
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Preprocessing:
        return cls.from_dict(json.loads(Path(path).read_text()))
