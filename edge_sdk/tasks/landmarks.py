"""Landmarks: K points (x, y[, z]) from a flat ``[1, V*K]`` vector or a ``[1, K, V]`` tensor.

Roles: ``landmarks``. ``params``: ``input_width`` and ``input_height`` (the model input's size in
the units the model outputs, pixels usually; 1.0 when it outputs normalised values) and
``values_per_point`` (V of the flat layout, 3 by default; 4 or 5 for layouts such as MediaPipe
pose with visibility and presence, whose extra columns are dropped). x and y are divided by
the input size, z by the input width (MediaPipe's convention); (x, y) then go through
``to_source``, z is left as is. Points are not clipped: a landmark may lie outside the frame.
``labels``, when given, name the points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks._options import check, parse_options
from edge_sdk.tasks.base import Decoder, PointTransform, TaskKind, TaskResult, TaskSpec, map_points

__all__ = ["LandmarkOptions", "Landmarks", "LandmarksDecoder", "decoder", "validate"]


@dataclass(frozen=True)
class LandmarkOptions:
    input_width: float = field(metadata={"help": "the model input's width in the units of its output, e.g. 256.0"})
    input_height: float = field(metadata={"help": "the model input's height in the units of its output, e.g. 256.0"})
    values_per_point: int = 3

    def __post_init__(self) -> None:
        check(self.input_width > 0, "input_width", f"expected a positive number. Got: {self.input_width}")
        check(self.input_height > 0, "input_height", f"expected a positive number. Got: {self.input_height}")
        check(2 <= self.values_per_point <= 5, "values_per_point", f"expected 2 to 5. Got: {self.values_per_point}")


@dataclass(frozen=True)
class Landmarks(TaskResult):
    """``points`` has shape (K, 2) or (K, 3): normalised x, y (source frame after ``to_source``) and z."""

    kind: ClassVar[TaskKind] = "landmarks"
    points: npt.NDArray[np.float64] = field(compare=False)
    names: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        if not np.isfinite(self.points).all():
            raise InputError("landmarks points have NaN or infinite values: a task result holds none")
        out: dict[str, Any] = {"dims": int(self.points.shape[1]), "points": self.points.tolist()}
        if self.names:
            out["names"] = list(self.names)
        return out


def validate(spec: TaskSpec) -> LandmarkOptions:
    if set(spec.outputs) != {"landmarks"}:
        raise BundleError(f"task 'landmarks' outputs: expected the one role 'landmarks'. Got: "
                          f"{', '.join(sorted(spec.outputs)) or 'none'}")
    return parse_options(LandmarkOptions, spec.params, "task 'landmarks' params")


class LandmarksDecoder(Decoder):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.options: LandmarkOptions = spec.options
        self._scale = np.array([self.options.input_width, self.options.input_height, self.options.input_width])

    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> Landmarks:
        array = self.tensor(outputs, "landmarks")
        name = self.spec.outputs["landmarks"]
        if array.ndim >= 2 and array.shape[-1] in (2, 3) and array.size != array.shape[-1] \
                and all(size == 1 for size in array.shape[:-2]):
            grid = array.reshape(-1, array.shape[-1])  # [1, K, V]
        else:
            flat = self.vector(outputs, "landmarks")
            per = self.options.values_per_point
            if flat.size % per:
                raise InputError(f"task 'landmarks': output {name!r} has {flat.size} values, not a multiple of "
                                 f"params.values_per_point ({per})")
            grid = flat.reshape(-1, per)[:, :3]
        points = grid.astype(np.float64) / self._scale[:grid.shape[1]]
        points[:, 0:2] = map_points(points[:, 0:2], to_source)
        if self.spec.labels and len(self.spec.labels) != points.shape[0]:
            raise InputError(f"task 'landmarks': output {name!r} has {points.shape[0]} points but the spec names "
                             f"{len(self.spec.labels)}")
        return Landmarks(points=points, names=self.spec.labels)


def decoder(spec: TaskSpec) -> LandmarksDecoder:
    return LandmarksDecoder(spec)
