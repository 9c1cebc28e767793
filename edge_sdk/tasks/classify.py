"""Classification: one score per class, from probabilities or logits, with top-k and a threshold.

Roles: ``scores`` (shape ``[1, C]`` or ``[C]``). ``params``: ``activation`` (``none`` when the model
outputs probabilities, ``softmax`` for logits of one-of-C, ``sigmoid`` for independent labels),
``top_k``, ``threshold`` (a class below it is not reported as the label nor in ``top_k``) and
``scores`` (``all`` labels or only the ``top_k`` ones in the result's ``scores``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks._options import check, parse_options
from edge_sdk.tasks.base import Decoder, PointTransform, TaskKind, TaskResult, TaskSpec, finite

__all__ = ["Classification", "ClassifyDecoder", "ClassifyOptions", "decoder", "softmax", "validate"]

_SMALL = 64  # classes up to which plain Python is faster than numpy
_SLACK = 1e-4  # dequantized probabilities may overshoot [0, 1] by a rounding step


@dataclass(frozen=True)
class ClassifyOptions:
    activation: Literal["none", "softmax", "sigmoid"] = "none"
    top_k: int = 5
    threshold: float = 0.0
    scores: Literal["all", "top_k"] = "all"

    def __post_init__(self) -> None:
        check(self.top_k >= 1, "top_k", f"expected at least 1. Got: {self.top_k}")
        check(0.0 <= self.threshold <= 1.0, "threshold", f"expected 0 to 1. Got: {self.threshold}")


@dataclass(frozen=True)
class Classification(TaskResult):
    """``label`` and ``confidence`` are the best class at or above the threshold, or None when none is."""

    kind: ClassVar[TaskKind] = "classify"
    label: str | None
    confidence: float | None
    scores: Mapping[str, float]
    top_k: tuple[tuple[str, float], ...]

    def to_json(self) -> dict[str, Any]:
        """Scores rounded to 5 decimals (as schema 1 had them: a tenth of an int8 step, and a third of the
        bytes of a full float per score); ``top_k`` is left out when ``scores`` lists every class, as it is
        then those scores sorted."""
        out: dict[str, Any] = {
            "label": self.label,
            "confidence": None if self.confidence is None else round(finite(self.confidence, "classify confidence"), 5),
            "scores": {name: round(finite(score, f"classify scores[{name!r}]"), 5) for name, score in self.scores.items()},
        }
        if len(self.top_k) < len(self.scores) or not self.scores:
            out["top_k"] = [{"label": name, "score": round(finite(score, f"classify top_k[{name!r}]"), 5)}
                            for name, score in self.top_k]
        return out


def softmax(logits: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Softmax of a 1-D vector, shifted by its maximum so that large logits do not overflow."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits)
    exp = np.exp(shifted)
    out: npt.NDArray[np.float64] = exp / exp.sum()
    return out


def validate(spec: TaskSpec) -> ClassifyOptions:
    if set(spec.outputs) != {"scores"}:
        raise BundleError(f"task 'classify' outputs: expected the one role 'scores'. Got: "
                          f"{', '.join(sorted(spec.outputs)) or 'none'}")
    if len(set(spec.labels)) != len(spec.labels):
        raise BundleError("task 'classify' labels: each label must be unique (they key the scores)")
    return parse_options(ClassifyOptions, spec.params, "task 'classify' params")


class ClassifyDecoder(Decoder):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.options: ClassifyOptions = spec.options
        self._names: tuple[str, ...] = spec.labels

    def _labels(self, count: int) -> tuple[str, ...]:
        if len(self._names) != count:
            if self.spec.labels:
                raise InputError(f"task 'classify': output {self.spec.outputs['scores']!r} has {count} classes but "
                                 f"the spec has {len(self.spec.labels)} labels")
            self._names = tuple(str(i) for i in range(count))  # cached: the next frame has the same count
        return self._names

    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> Classification:
        raw = self.vector(outputs, "scores")
        names = self._labels(raw.shape[0])
        if raw.shape[0] <= _SMALL:
            return self._decode_small(raw.tolist(), names)
        options = self.options
        if options.activation == "softmax":
            probs = softmax(raw)
        elif options.activation == "sigmoid":
            probs = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(raw, dtype=np.float64), -500.0, 500.0)))
        else:
            probs = np.asarray(raw, dtype=np.float64)
            low, high = float(probs.min()), float(probs.max())
            if low < -_SLACK or high > 1.0 + _SLACK:
                raise InputError(f"task 'classify': output {self.spec.outputs['scores']!r} ranges {low:g} to "
                                 f"{high:g}, not probabilities; set params.activation to softmax (or sigmoid) if "
                                 f"the model outputs logits")
            probs = np.clip(probs, 0.0, 1.0)
        order = np.argsort(-probs, kind="stable")[:options.top_k]
        top = tuple((names[i], float(probs[i])) for i in order if probs[i] >= options.threshold)
        if options.scores == "all":
            scores = dict(zip(names, probs.tolist()))
        else:
            scores = {name: float(probs[i]) for name, i in zip((names[i] for i in order), order)}
        label, confidence = top[0] if top else (None, None)
        return Classification(label=label, confidence=confidence, scores=scores, top_k=top)


    def _decode_small(self, raw: list[float], names: tuple[str, ...]) -> Classification:
        """The same result in plain Python: for a few classes, each numpy call costs more than the work
        (measured on the seek model's 5 scores: 15-20 us per frame with numpy, 4 with this)."""
        options = self.options
        if options.activation == "softmax":
            top_raw = max(raw)
            exps = [math.exp(v - top_raw) for v in raw]
            total = sum(exps)
            probs = [e / total for e in exps]
        elif options.activation == "sigmoid":
            probs = [1.0 / (1.0 + math.exp(-min(500.0, max(-500.0, v)))) for v in raw]
        else:
            low, high = min(raw), max(raw)
            if low < -_SLACK or high > 1.0 + _SLACK:
                raise InputError(f"task 'classify': output {self.spec.outputs['scores']!r} ranges {low:g} to "
                                 f"{high:g}, not probabilities; set params.activation to softmax (or sigmoid) if "
                                 f"the model outputs logits")
            probs = [min(1.0, max(0.0, v)) for v in raw]
        order = sorted(range(len(probs)), key=lambda i: -probs[i])[:options.top_k]  # stable, as argsort's
        top = tuple((names[i], probs[i]) for i in order if probs[i] >= options.threshold)
        if options.scores == "all":
            scores = dict(zip(names, probs))
        else:
            scores = {names[i]: probs[i] for i in order}
        label, confidence = top[0] if top else (None, None)
        return Classification(label=label, confidence=confidence, scores=scores, top_k=top)


def decoder(spec: TaskSpec) -> ClassifyDecoder:
    return ClassifyDecoder(spec)
