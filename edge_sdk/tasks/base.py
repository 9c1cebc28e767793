"""What every task shares: the spec, the result base, the decoder base, the point transform.

A task turns a model's output tensors (dequantized float32 numpy arrays keyed by output name) into
a typed :class:`TaskResult`. :class:`TaskSpec` says which task, which output tensor plays which
role, the labels and the task's options; it is validated when made (a spec comes from the bundle
manifest, so its errors are :class:`BundleError`), and :func:`make_decoder` turns it into a
:class:`Decoder` that has precomputed what it can (anchors) so that ``decode`` is cheap per frame.

Coordinates: decoders work in the model input's normalised space, (0, 0) top left to (1, 1) bottom
right. Given a ``to_source`` :class:`PointTransform` (e.g. one undoing a letterbox), boxes,
keypoints and landmarks are mapped through it into the source frame's normalised space.

JSON: a result never holds NaN or infinity. ``to_json()`` raises :class:`InputError` naming the
field when a typed result would (a model that outputs NaN is broken, and a consumer cannot tell a
null score from a missing one); :class:`~edge_sdk.tasks.raw.RawOutputs`, whose purpose is to show
what the model produced, writes null for those elements instead and counts them.
"""

from __future__ import annotations

import importlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Protocol, get_args, runtime_checkable

import numpy as np
import numpy.typing as npt

from edge_sdk.errors import BundleError, InputError

__all__ = [
    "KINDS",
    "Decoder",
    "PointTransform",
    "TaskKind",
    "TaskResult",
    "TaskSpec",
    "finite",
    "make_decoder",
    "map_boxes",
    "map_points",
    "result_payload_fields",
]

TaskKind = Literal["classify", "detect", "segment", "embed", "landmarks", "regress", "raw", "generate"]
KINDS: tuple[TaskKind, ...] = get_args(TaskKind)


@runtime_checkable
class PointTransform(Protocol):
    """Maps normalised (x, y) points of the model input back to normalised source-frame points."""

    def to_source(self, points_xy: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """``points_xy`` has shape (N, 2); return the same shape."""
        ...


def _task_module(kind: str) -> Any:
    return importlib.import_module(f"edge_sdk.tasks.{kind}")


@dataclass(frozen=True)
class TaskSpec:
    """Which task a model's outputs feed, stored in the bundle manifest (``to_dict`` / ``from_dict``).

    ``outputs`` maps the task's roles to output tensor names (``{"boxes": "raw_boxes", "scores":
    "raw_scores"}``); ``params`` are the task's options, checked against its options dataclass.
    """

    kind: TaskKind
    outputs: Mapping[str, str]
    labels: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    _options: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BundleError(f"task kind: expected one of {', '.join(KINDS)}. Got: {self.kind!r}")
        where = f"task {self.kind!r}"
        if not isinstance(self.outputs, Mapping) or not all(
                isinstance(k, str) and k and isinstance(v, str) and v for k, v in self.outputs.items()):
            raise BundleError(f"{where} outputs: expected a mapping of role to output tensor name (non-empty "
                              f"strings). Got: {self.outputs!r}")
        labels = self.labels
        if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
            raise BundleError(f"{where} labels: expected a list of strings. Got: {labels!r}")
        if not isinstance(self.params, Mapping):
            raise BundleError(f"{where} params: expected a mapping of options. Got: {type(self.params).__name__}")
        try:  # a plain-JSON copy: what to_dict returns and from_dict reads back, equal either way
            params = json.loads(json.dumps(dict(self.params), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{where} params: must be plain JSON (numbers, strings, lists, mappings; no "
                              f"NaN). {exc}") from None
        object.__setattr__(self, "outputs", MappingProxyType(dict(self.outputs)))
        object.__setattr__(self, "labels", tuple(labels))
        object.__setattr__(self, "params", MappingProxyType(params))
        object.__setattr__(self, "_options", _task_module(self.kind).validate(self))

    @property
    def options(self) -> Any:
        """The parsed options dataclass of this kind (``ClassifyOptions``, ``DetectOptions``...)."""
        return self._options

    def label(self, index: int) -> str:
        """The label of class ``index``, or its number as text when the spec has no such label."""
        return self.labels[index] if 0 <= index < len(self.labels) else str(index)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for the bundle manifest."""
        return {"kind": self.kind, "outputs": dict(self.outputs), "labels": list(self.labels),
                "params": json.loads(json.dumps(dict(self.params)))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        """The spec :meth:`to_dict` wrote; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise BundleError(f"task: expected a mapping. Got: {type(data).__name__}")
        valid = {"kind", "outputs", "labels", "params"}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise BundleError(f"task.{unknown[0]}: unknown key. Valid keys: {', '.join(sorted(valid))}")
        for key in ("kind", "outputs"):
            if key not in data:
                raise BundleError(f"task.{key}: missing")
        labels = data.get("labels", ())
        if not isinstance(labels, (list, tuple)):
            raise BundleError(f"task.labels: expected a list of strings. Got: {labels!r}")
        return cls(kind=data["kind"], outputs=data["outputs"], labels=tuple(labels), params=data.get("params", {}))


class TaskResult(ABC):
    """Base of the typed results; each kind is a frozen dataclass with ``kind`` and ``to_json()``."""

    kind: ClassVar[TaskKind]

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The ``result`` member of an ``edge_sdk.result/2`` payload (JSON-safe)."""


class Decoder(ABC):
    """Turns one frame's output tensors into a :class:`TaskResult`; made by :func:`make_decoder`."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    @abstractmethod
    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> TaskResult:
        """Decode ``outputs`` (output name -> dequantized array); coordinates go through ``to_source``."""

    def tensor(self, outputs: Mapping[str, npt.NDArray[Any]], role: str) -> npt.NDArray[Any]:
        """The array playing ``role``, or :class:`InputError` naming what is missing and what came."""
        name = self.spec.outputs[role]
        try:
            value = outputs[name]
        except KeyError:
            raise InputError(f"task {self.spec.kind!r}: output {name!r} (role {role!r}) is not among the model's "
                             f"outputs. Got: {', '.join(sorted(outputs)) or 'none'}") from None
        return np.asarray(value)

    def vector(self, outputs: Mapping[str, npt.NDArray[Any]], role: str) -> npt.NDArray[Any]:
        """The array playing ``role`` as a 1-D vector: every dimension but the last must be 1 (``[1, N]``)."""
        array = self.tensor(outputs, role)
        if array.ndim == 0 or any(size != 1 for size in array.shape[:-1]):
            raise InputError(f"task {self.spec.kind!r}: output {self.spec.outputs[role]!r} ({role}) should be one "
                             f"vector, shape [1, N] or [N]. Got shape {list(array.shape)}")
        return array.reshape(-1)

    def batch1(self, array: npt.NDArray[Any], role: str, ndim: int) -> npt.NDArray[Any]:
        """``array`` without its batch dimension of 1 (``ndim`` is the rank without it)."""
        if array.ndim == ndim + 1:
            if array.shape[0] != 1:
                raise InputError(f"task {self.spec.kind!r}: output {self.spec.outputs[role]!r} has a batch of "
                                 f"{array.shape[0]}; a decoder takes one frame (batch 1)")
            return array[0]
        if array.ndim != ndim:
            raise InputError(f"task {self.spec.kind!r}: output {self.spec.outputs[role]!r} ({role}) should have "
                             f"{ndim} dimensions plus an optional batch of 1. Got shape {list(array.shape)}")
        return array


def make_decoder(spec: TaskSpec) -> Decoder:
    """The decoder of ``spec.kind``, with its per-model work (anchors...) done once here."""
    decoder: Decoder = _task_module(spec.kind).decoder(spec)
    return decoder


def result_payload_fields(result: TaskResult) -> dict[str, Any]:
    """``{"task": kind, "result": ...}``: what a task adds to the ``edge_sdk.result/2`` envelope."""
    return {"task": result.kind, "result": result.to_json()}


def finite(value: float, where: str) -> float:
    """``value`` as a plain float, or :class:`InputError` naming ``where`` if it is NaN or infinite."""
    number = float(value)
    if not math.isfinite(number):
        raise InputError(f"{where} is {number}: a task result holds no NaN or infinity (JSON has none); "
                         f"the model produced a non-finite output")
    return number


def map_points(points_xy: npt.NDArray[Any], to_source: PointTransform | None) -> npt.NDArray[np.float64]:
    """(N, 2) normalised model-input points through ``to_source``; identity when None."""
    points = np.asarray(points_xy, dtype=np.float64)
    if to_source is None or points.size == 0:
        return points
    mapped = np.asarray(to_source.to_source(points), dtype=np.float64)
    if mapped.shape != points.shape:
        raise InputError(f"to_source returned shape {list(mapped.shape)} for points of shape {list(points.shape)}")
    return mapped


def map_boxes(boxes_xyxy: npt.NDArray[Any], to_source: PointTransform | None) -> npt.NDArray[np.float64]:
    """(N, 4) boxes (xmin, ymin, xmax, ymax): both corners through ``to_source``, then clipped to [0, 1]."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    corners = map_points(boxes.reshape(-1, 2), to_source).reshape(-1, 4)
    out = np.empty_like(corners)
    np.minimum(corners[:, 0:2], corners[:, 2:4], out=out[:, 0:2])  # a transform may flip an axis
    np.maximum(corners[:, 0:2], corners[:, 2:4], out=out[:, 2:4])
    np.clip(out, 0.0, 1.0, out=out)
    return out
