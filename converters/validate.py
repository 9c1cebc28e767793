"""Converted model vs Keras on held-out tensors: accuracy, agreement, score error, size, latency.

The TFLite side runs in ``ai_edge_litert`` exactly as the device will: inputs bound by signature
name, each quantized with its own scale and zero point, outputs dequantized with theirs.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from converters.convert import ConversionResult
from converters.errors import ParityError

__all__ = ["ParityReport", "TFLiteRunner", "confusion_matrix", "validate"]

_log = logging.getLogger(__name__)


class TFLiteRunner:
    """A TFLite model fed by signature name, with per-tensor (de)quantization."""

    def __init__(self, flatbuffer: bytes, num_threads: int = 1, signature_key: str = "serving_default") -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=flatbuffer, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        runner = self.interpreter.get_signature_runner(signature_key)
        self.input_details: dict[str, dict[str, Any]] = runner.get_input_details()
        self.output_details: dict[str, dict[str, Any]] = runner.get_output_details()

    def feed(self, sample: Mapping[str, np.ndarray]) -> None:
        """Set every input from a batch-1 float/int tensor keyed by input name."""
        for name, detail in self.input_details.items():
            try:
                value = sample[name]
            except KeyError:
                raise KeyError(f"no tensor for model input {name!r}. Got: {sorted(sample)}") from None
            self.interpreter.set_tensor(detail["index"], quantize(value, detail))

    def invoke(self) -> None:
        self.interpreter.invoke()

    def output(self, name: str) -> np.ndarray:
        detail = self.output_details[name]
        return dequantize(self.interpreter.get_tensor(detail["index"]), detail)

    def run(self, tensors: Mapping[str, np.ndarray], output: str = "scores") -> np.ndarray:
        """Outputs for a whole batch (one invoke per sample, the model has batch 1): (N, ...)."""
        count = len(next(iter(tensors.values())))
        rows = []
        for index in range(count):
            self.feed({name: values[index : index + 1] for name, values in tensors.items()})
            self.invoke()
            rows.append(self.output(output)[0])
        return np.stack(rows)


def quantize(value: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype.kind in "iu" and scale > 0 and np.issubdtype(np.asarray(value).dtype, np.floating):
        limits = np.iinfo(dtype)
        value = np.clip(np.round(value / scale + zero_point), limits.min, limits.max)
    return np.asarray(value).astype(dtype, copy=False)


def dequantize(value: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).kind in "iu" and scale > 0:
        return (value.astype(np.float32) - zero_point) * np.float32(scale)
    return value.astype(np.float32, copy=False)


@dataclass(frozen=True)
class ParityReport:
    """How a converted model compares with its Keras source on held-out data."""

    mode: str
    samples: int
    labels: tuple[str, ...]
    keras_accuracy: float
    tflite_accuracy: float
    top1_agreement: float
    max_abs_score_error: float
    mean_abs_score_error: float
    size_bytes: int
    op_counts: dict[str, int]
    float_ops: dict[str, int]
    builtin_only: bool
    latency_ms: dict[str, float]  # median invoke time by thread count ("1", "2")
    confusion_keras: list[list[int]] = field(default_factory=list)  # rows: true, columns: predicted
    confusion_tflite: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParityReport:
        return cls(**{**data, "labels": tuple(data["labels"])})

    def check(self, min_agreement: float = 0.99, max_accuracy_drop: float = 0.01) -> None:
        """Raise :class:`ParityError` when TFLite strays from Keras beyond the stated tolerance."""
        problems = []
        if self.top1_agreement < min_agreement:
            problems.append(f"top-1 agreement {self.top1_agreement:.4f} < {min_agreement}")
        if self.keras_accuracy - self.tflite_accuracy > max_accuracy_drop:
            problems.append(
                f"accuracy drop {self.keras_accuracy - self.tflite_accuracy:.4f} > {max_accuracy_drop} "
                f"(Keras {self.keras_accuracy:.4f}, TFLite {self.tflite_accuracy:.4f})"
            )
        if problems:
            raise ParityError(f"the {self.mode} model disagrees with Keras on {self.samples} samples: {'; '.join(problems)}")


def validate(
    result: ConversionResult,
    keras_model: Any,
    tensors: Mapping[str, np.ndarray],
    labels: np.ndarray,
    label_names: Sequence[str],
    *,
    keras_scores: np.ndarray | None = None,
    latency_runs: int = 100,
    threads: Sequence[int] = (1, 2),
    output: str = "scores",
) -> ParityReport:
    """Compare ``result`` with ``keras_model`` on held-out ``tensors`` (input name -> batch).

    ``labels`` are true class indices. Pass ``keras_scores`` to reuse one Keras prediction
    across several modes. Latency is the median of ``latency_runs`` invokes per thread count.
    """
    labels = np.asarray(labels)
    if keras_scores is None:
        keras_scores = np.asarray(keras_model.predict(dict(tensors), batch_size=256, verbose=0))
    started = time.perf_counter()
    tflite_scores = TFLiteRunner(result.tflite).run(tensors, output)
    _log.info("%s: %d TFLite invokes in %.1f s", result.mode, len(labels), time.perf_counter() - started)
    if tflite_scores.shape != keras_scores.shape:
        raise ParityError(f"TFLite and Keras scores differ in shape. Keras: {keras_scores.shape}. TFLite: {tflite_scores.shape}")
    keras_top1, tflite_top1 = keras_scores.argmax(-1), tflite_scores.argmax(-1)
    error = np.abs(tflite_scores - keras_scores)
    classes = len(label_names)
    return ParityReport(
        mode=result.mode,
        samples=len(labels),
        labels=tuple(label_names),
        keras_accuracy=float((keras_top1 == labels).mean()),
        tflite_accuracy=float((tflite_top1 == labels).mean()),
        top1_agreement=float((keras_top1 == tflite_top1).mean()),
        max_abs_score_error=float(error.max()),
        mean_abs_score_error=float(error.mean()),
        size_bytes=result.size_bytes,
        op_counts=dict(sorted(result.op_counts.items())),
        float_ops=dict(sorted(result.float_ops.items())),
        builtin_only=result.op_set.builtin_only,
        latency_ms={str(n): invoke_latency_ms(result.tflite, tensors, n, latency_runs) for n in threads},
        confusion_keras=confusion_matrix(labels, keras_top1, classes).tolist(),
        confusion_tflite=confusion_matrix(labels, tflite_top1, classes).tolist(),
    )


def invoke_latency_ms(flatbuffer: bytes, tensors: Mapping[str, np.ndarray], num_threads: int, runs: int = 100) -> float:
    """Median wall time of ``runs`` invokes on the first sample, after a short warm-up."""
    runner = TFLiteRunner(flatbuffer, num_threads=num_threads)
    runner.feed({name: values[:1] for name, values in tensors.items()})
    for _ in range(5):  # first invokes allocate and pack weights (XNNPACK)
        runner.invoke()
    times_ns = []
    for _ in range(max(1, runs)):
        start = time.perf_counter_ns()
        runner.invoke()
        times_ns.append(time.perf_counter_ns() - start)
    return statistics.median(times_ns) / 1e6


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true), np.asarray(predicted)), 1)
    return matrix
