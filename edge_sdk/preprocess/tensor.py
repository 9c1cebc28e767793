"""The generic input: any shape and dtype, for what is not an image, a token sequence or a sensor row.

An audio feature window ``[1, 3, 40]`` int8, a state vector, an attention mask: the caller gives
real values, the spec says how to scale them (``(x - mean) / std``), and the tensor's own
quantization (from the flatbuffer) turns them into its dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_sdk.errors import InputError

__all__ = ["TensorSpec", "prepare_tensor"]


@dataclass(frozen=True)
class TensorSpec:
    mean: float = field(default=0.0, metadata={"help": "subtracted from every value before quantization"})
    std: float = field(default=1.0, metadata={"help": "values are divided by it after the mean (not 0)"})

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and math.isfinite(self.std)) or self.std == 0:
            raise InputError(f"tensor preprocess: expected a finite mean and a non-zero std. "
                             f"Got: mean={self.mean}, std={self.std}")

    def to_dict(self) -> dict[str, object]:
        return {"kind": "tensor", "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        unknown = sorted(set(data) - {"kind", "mean", "std"})
        if unknown:
            raise InputError(f"tensor preprocess: unknown key {unknown[0]!r}. Valid keys: mean, std")
        return cls(float(data.get("mean", 0.0)), float(data.get("std", 1.0)))


def prepare_tensor(value: Any, spec: TensorSpec, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``value`` (array-like, with or without the batch dimension) as scaled float32 of ``shape``."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"input {name!r}: expected numbers of shape {shape}. Got: {type(value).__name__}") from exc
    if array.shape != shape and (1, *array.shape) == shape:
        array = array[np.newaxis]
    if array.shape != shape:
        raise InputError(f"input {name!r}: expected shape {shape}. Got: {array.shape}")
    if not np.isfinite(array).all():
        raise InputError(f"input {name!r}: values must be finite. Got: NaN or inf")
    if spec.mean != 0.0 or spec.std != 1.0:
        array = (array - np.float32(spec.mean)) / np.float32(spec.std)
    return array
