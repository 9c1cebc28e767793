"""Embeddings: the model's vector, L2-normalised, for similarity search and re-identification.

Roles: ``embedding`` (``[1, D]`` or ``[D]``). No options. A zero (or non-finite) vector has no
direction, so it is an :class:`InputError` rather than a vector of NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks._options import parse_options
from edge_sdk.tasks.base import Decoder, PointTransform, TaskKind, TaskResult, TaskSpec, finite

__all__ = ["EmbedDecoder", "EmbedOptions", "Embedding", "decoder", "validate"]


@dataclass(frozen=True)
class EmbedOptions:
    """Embeddings take no options (yet); an unknown one is still an error."""


@dataclass(frozen=True)
class Embedding(TaskResult):
    """``vector`` has unit L2 norm; ``norm`` is the norm of the model's raw vector."""

    kind: ClassVar[TaskKind] = "embed"
    vector: npt.NDArray[np.float32] = field(compare=False)
    norm: float

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])

    def to_json(self) -> dict[str, Any]:
        values = self.vector.tolist()
        if not all(math.isfinite(v) for v in values):
            raise InputError("embed vector has NaN or infinite values: a task result holds none")
        return {"dim": self.dim, "norm": finite(self.norm, "embed norm"), "vector": values}


def validate(spec: TaskSpec) -> EmbedOptions:
    if set(spec.outputs) != {"embedding"}:
        raise BundleError(f"task 'embed' outputs: expected the one role 'embedding'. Got: "
                          f"{', '.join(sorted(spec.outputs)) or 'none'}")
    if spec.labels:
        raise BundleError("task 'embed' labels: an embedding has no labels; leave them out")
    return parse_options(EmbedOptions, spec.params, "task 'embed' params")


class EmbedDecoder(Decoder):
    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> Embedding:
        vector = self.vector(outputs, "embedding").astype(np.float32)
        norm = float(np.linalg.norm(vector.astype(np.float64)))
        if norm == 0.0 or not math.isfinite(norm):
            what = "all zeros" if norm == 0.0 else "not finite (NaN or infinity)"
            raise InputError(f"task 'embed': output {self.spec.outputs['embedding']!r} is {what}; an L2-normalised "
                             f"embedding needs a non-zero, finite vector")
        vector /= np.float32(norm)
        return Embedding(vector=vector, norm=norm)


def decoder(spec: TaskSpec) -> EmbedDecoder:
    return EmbedDecoder(spec)
