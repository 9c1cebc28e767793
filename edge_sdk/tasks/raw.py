"""Raw outputs: the named tensors as nested lists, for models no task fits and for debugging.

Roles: any; each role is a key of the result and names an output tensor. With no roles at all,
every output the model produced is passed, keyed by its own name. ``params.max_elements`` (1024)
caps the size: a larger tensor is summarised (shape, dtype, min, max, mean) and marked
``summarised: true`` instead. NaN and infinity become null, counted in ``nonfinite``; the
summary's min, max and mean are over the finite elements (null when there are none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from edge_sdk.errors import BundleError
from edge_sdk.tasks._options import check, parse_options
from edge_sdk.tasks.base import Decoder, PointTransform, TaskKind, TaskResult, TaskSpec

__all__ = ["RawDecoder", "RawOptions", "RawOutputs", "RawTensor", "decoder", "describe", "validate"]


@dataclass(frozen=True)
class RawOptions:
    max_elements: int = 1024

    def __post_init__(self) -> None:
        check(self.max_elements >= 0, "max_elements", f"expected 0 or more. Got: {self.max_elements}")


@dataclass(frozen=True)
class RawTensor:
    """One tensor: ``data`` (nested lists, None for non-finite) when small, else a summary."""

    shape: tuple[int, ...]
    dtype: str
    nonfinite: int
    data: Any = None
    summarised: bool = False
    min: float | None = None
    max: float | None = None
    mean: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"shape": list(self.shape), "dtype": self.dtype, "summarised": self.summarised,
                               "nonfinite": self.nonfinite}
        if self.summarised:
            out.update(elements=int(np.prod(self.shape, dtype=np.int64)), min=self.min, max=self.max, mean=self.mean)
        else:
            out["data"] = self.data
        return out


def _nested(array: npt.NDArray[Any], finite: npt.NDArray[np.bool_] | None) -> Any:
    if finite is None:
        return array.tolist()
    values = array.astype(object)
    values[~finite] = None
    return values.tolist()


def describe(array: npt.NDArray[Any], max_elements: int) -> RawTensor:
    """A :class:`RawTensor` of ``array``, summarised above ``max_elements``."""
    shape = tuple(int(s) for s in array.shape)
    if array.dtype.kind in "fc":
        finite_mask = np.isfinite(array)
        nonfinite = int(array.size - np.count_nonzero(finite_mask))
    else:
        finite_mask, nonfinite = None, 0
    if array.size <= max_elements:
        data = _nested(array, finite_mask if nonfinite else None)
        return RawTensor(shape=shape, dtype=str(array.dtype), nonfinite=nonfinite, data=data)
    values = array[finite_mask] if nonfinite and finite_mask is not None else array
    if values.size == 0:
        return RawTensor(shape=shape, dtype=str(array.dtype), nonfinite=nonfinite, summarised=True)
    real = values.real if values.dtype.kind == "c" else values
    return RawTensor(shape=shape, dtype=str(array.dtype), nonfinite=nonfinite, summarised=True,
                     min=float(real.min()), max=float(real.max()), mean=float(real.mean(dtype=np.float64)))


@dataclass(frozen=True)
class RawOutputs(TaskResult):
    kind: ClassVar[TaskKind] = "raw"
    tensors: Mapping[str, RawTensor]

    def to_json(self) -> dict[str, Any]:
        return {"tensors": {name: tensor.to_json() for name, tensor in self.tensors.items()}}


def validate(spec: TaskSpec) -> RawOptions:
    if spec.labels:
        raise BundleError("task 'raw' labels: raw outputs have no labels; leave them out")
    return parse_options(RawOptions, spec.params, "task 'raw' params")


class RawDecoder(Decoder):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.options: RawOptions = spec.options

    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> RawOutputs:
        limit = self.options.max_elements
        if not self.spec.outputs:
            return RawOutputs({name: describe(np.asarray(array), limit) for name, array in outputs.items()})
        return RawOutputs({role: describe(self.tensor(outputs, role), limit) for role in self.spec.outputs})


def decoder(spec: TaskSpec) -> RawDecoder:
    return RawDecoder(spec)
