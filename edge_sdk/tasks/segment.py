"""Segmentation: a class per pixel, from ``[1, H, W, C]`` scores (argmax) or ``[1, H, W, 1]`` (threshold).

Roles: ``mask``. ``params``: ``threshold`` (single-channel masks: a pixel at or above it is class 1)
and ``png`` (also encode the mask as a PNG, with OpenCV, for a snapshot topic: pixel values are
class ids, 8-bit up to 256 classes, 16-bit beyond; a viewer applies a palette). ``labels`` name
the classes (single channel: ``background``, ``foreground`` by default). The mask stays in the
model input's space: ``to_source`` does not apply to it (undo a letterbox on the image instead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from edge_sdk._lazy import require
from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks._options import check, parse_options
from edge_sdk.tasks.base import Decoder, PointTransform, TaskKind, TaskResult, TaskSpec, finite

__all__ = ["SegmentDecoder", "SegmentOptions", "Segmentation", "decoder", "encode_png", "validate"]

_BINARY = ("background", "foreground")


@dataclass(frozen=True)
class SegmentOptions:
    threshold: float = 0.5
    png: bool = False

    def __post_init__(self) -> None:
        check(math.isfinite(self.threshold), "threshold", f"expected a finite number. Got: {self.threshold}")


@dataclass(frozen=True)
class Segmentation(TaskResult):
    """``mask`` (H, W) of class ids; ``areas`` is the fraction of pixels of each class; ``png`` when asked."""

    kind: ClassVar[TaskKind] = "segment"
    mask: npt.NDArray[Any] = field(compare=False, repr=False)
    areas: Mapping[str, float]
    png: bytes | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"shape": [int(self.mask.shape[0]), int(self.mask.shape[1])],
                "areas": {name: finite(area, f"segment areas[{name!r}]") for name, area in self.areas.items()},
                "png_bytes": None if self.png is None else len(self.png)}


def encode_png(mask: npt.NDArray[Any]) -> bytes:
    """The mask as a lossless PNG (OpenCV, imported on first use)."""
    cv2 = require("cv2", "the PNG encoding of a segmentation mask")
    ok, buffer = cv2.imencode(".png", np.ascontiguousarray(mask))
    if not ok:
        raise InputError(f"OpenCV could not encode a mask of shape {list(mask.shape)} and type {mask.dtype} as PNG")
    return bytes(buffer)


def validate(spec: TaskSpec) -> SegmentOptions:
    if set(spec.outputs) != {"mask"}:
        raise BundleError(f"task 'segment' outputs: expected the one role 'mask'. Got: "
                          f"{', '.join(sorted(spec.outputs)) or 'none'}")
    if len(set(spec.labels)) != len(spec.labels):
        raise BundleError("task 'segment' labels: each label must be unique (they key the areas)")
    return parse_options(SegmentOptions, spec.params, "task 'segment' params")


class SegmentDecoder(Decoder):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.options: SegmentOptions = spec.options

    def _names(self, classes: int) -> tuple[str, ...]:
        if self.spec.labels:
            if len(self.spec.labels) != classes:
                raise InputError(f"task 'segment': output {self.spec.outputs['mask']!r} has {classes} classes but "
                                 f"the spec has {len(self.spec.labels)} labels")
            return self.spec.labels
        return _BINARY if classes == 2 else tuple(str(i) for i in range(classes))

    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> Segmentation:
        scores = self.batch1(self.tensor(outputs, "mask"), "mask", 3)
        channels = scores.shape[2]
        if channels == 1:
            mask = (scores[:, :, 0] >= self.options.threshold).astype(np.uint8)
            classes = 2
        else:
            mask = np.argmax(scores, axis=2).astype(np.uint8 if channels <= 256 else np.uint16)
            classes = channels
        counts = np.bincount(mask.reshape(-1), minlength=classes)
        areas = dict(zip(self._names(classes), (counts / max(mask.size, 1)).tolist()))
        return Segmentation(mask=mask, areas=areas, png=encode_png(mask) if self.options.png else None)


def decoder(spec: TaskSpec) -> SegmentDecoder:
    return SegmentDecoder(spec)
