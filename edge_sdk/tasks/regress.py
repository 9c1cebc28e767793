"""Regression: named float values (a distance, an angle, an age...).

Roles: each role names a value and the output tensor that holds it. A one-element tensor gives
``{role: value}``; a longer one ``role_0``, ``role_1``... With ``labels`` the spec has exactly one
role and its tensor one element per label, named by the labels. No options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy.typing as npt

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks._options import parse_options
from edge_sdk.tasks.base import Decoder, PointTransform, TaskKind, TaskResult, TaskSpec, finite

__all__ = ["RegressDecoder", "RegressOptions", "Regression", "decoder", "validate"]


@dataclass(frozen=True)
class RegressOptions:
    """Regression takes no options (yet); an unknown one is still an error."""


@dataclass(frozen=True)
class Regression(TaskResult):
    kind: ClassVar[TaskKind] = "regress"
    values: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"values": {name: finite(value, f"regress values[{name!r}]") for name, value in self.values.items()}}


def validate(spec: TaskSpec) -> RegressOptions:
    if not spec.outputs:
        raise BundleError("task 'regress' outputs: expected at least one role (the value's name) -> output tensor")
    if spec.labels and len(spec.outputs) != 1:
        raise BundleError(f"task 'regress' labels: name the elements of one output; this spec has "
                          f"{len(spec.outputs)} roles ({', '.join(sorted(spec.outputs))})")
    if len(set(spec.labels)) != len(spec.labels):
        raise BundleError("task 'regress' labels: each label must be unique (they key the values)")
    return parse_options(RegressOptions, spec.params, "task 'regress' params")


class RegressDecoder(Decoder):
    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> Regression:
        values: dict[str, float] = {}
        for role in self.spec.outputs:
            flat = self.tensor(outputs, role).reshape(-1).tolist()
            if self.spec.labels:
                if len(flat) != len(self.spec.labels):
                    raise InputError(f"task 'regress': output {self.spec.outputs[role]!r} has {len(flat)} values "
                                     f"but the spec has {len(self.spec.labels)} labels")
                values.update(zip(self.spec.labels, map(float, flat)))
            elif len(flat) == 1:
                values[role] = float(flat[0])
            else:
                values.update((f"{role}_{i}", float(v)) for i, v in enumerate(flat))
        return Regression(values=values)


def decoder(spec: TaskSpec) -> RegressDecoder:
    return RegressDecoder(spec)
