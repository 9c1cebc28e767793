"""A converted model + its preprocessing + parity + golden vectors -> one bundle file.

Everything the device needs to feed the model travels in the manifest, read from the converted
flatbuffer itself (names, shapes, dtypes, quantization), never assumed. Golden vectors are raw
samples (a BGR frame, a text, a sensor reading) with the outputs the converted model gives for
them here; the runtime re-runs them at load time and refuses a model that strays beyond ``atol``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from converters.convert import INT8_MODES, ConversionResult
from converters.errors import ConversionError
from converters.preprocessing import Preprocessing
from converters.validate import ParityReport, TFLiteRunner
from edge_sdk.bundle import (
    GoldenCase,
    InputSpec,
    Manifest,
    ModelInfo,
    OutputSpec,
    write_bundle,
)
from edge_sdk.distribution import version as edge_sdk_version

__all__ = ["GoldenSample", "build_bundle", "golden_atol"]

_log = logging.getLogger(__name__)
ROLES = ("image", "text", "sensor")
# Float tolerances: float32 differs across CPUs/kernels by ~1e-6; float16 weights are widened to
# float32 once; dynamic-range kernels quantize activations on the fly, so their rounding may differ
# between x86 and ARM builds.
_FLOAT_ATOL = {"float32": 1e-4, "float16": 1e-3, "dynamic": 2e-2}
_INT8_ATOL_STEPS = 3  # quantization steps of the output: kernels may round differently per platform


@dataclass(frozen=True)
class GoldenSample:
    """One raw sample as the device receives it."""

    image_bgr: np.ndarray | None = None  # (H, W, 3) uint8, any size: the bundle's spec resizes it
    text: str | None = None
    sensor: Mapping[str, float] | None = None
    label: str | None = None  # the true label, for people reading the manifest


def golden_atol(result: ConversionResult, output: str = "scores") -> float:
    """Tolerance of golden outputs: 1e-4 for float32, a few output quantization steps for int8."""
    if result.mode in _FLOAT_ATOL:
        return _FLOAT_ATOL[result.mode]
    quant = result.outputs[output].quantization
    # int8 with float output: the output is dequantized from the int8 softmax, 1/256 steps.
    step = quant.scale if quant is not None else 1 / 256
    return _INT8_ATOL_STEPS * step if result.mode in INT8_MODES else 1e-2


def build_bundle(
    path: str | Path,
    result: ConversionResult,
    preprocessing: Preprocessing,
    model_info: ModelInfo,
    *,
    fusion: str = "",
    parity: ParityReport | Mapping[str, Any] | None = None,
    golden: Sequence[GoldenSample] = (),
    output_name: str = "scores",
) -> Manifest:
    """Write the bundle for ``result`` to ``path`` and return its manifest (with SHA-256 set).

    Raises :class:`ConversionError` when the converted model and the preprocessing disagree
    (an input the preprocessing does not describe, or a label count that does not fit).
    """
    inputs = tuple(_input_spec(name, info, preprocessing) for name, info in sorted(result.inputs.items()))
    out = result.outputs.get(output_name)
    if out is None:
        raise ConversionError(f"the converted model has no output {output_name!r}. Got: {sorted(result.outputs)}")
    if out.shape[-1] != len(preprocessing.labels):
        raise ConversionError(
            f"output {output_name!r} must have one score per label. Expected: {len(preprocessing.labels)} "
            f"({list(preprocessing.labels)}). Got: shape={out.shape}"
        )
    outputs = (OutputSpec(out.name, "scores", out.shape, out.dtype, tuple(preprocessing.labels), out.quantization),)
    cases, assets = _golden_cases(result, preprocessing, golden, output_name)
    if preprocessing.text is not None:
        assets["vocabulary.txt"] = "\n".join(preprocessing.text.vocabulary).encode() + b"\n"
    assets["labels.txt"] = "\n".join(preprocessing.labels).encode() + b"\n"
    parity_dict = parity.to_dict() if isinstance(parity, ParityReport) else dict(parity or {})
    manifest = Manifest.single(
        model=model_info,
        inputs=inputs,
        outputs=outputs,
        quantization=result.mode,  # type: ignore[arg-type]
        fusion=fusion,
        converter={**result.versions, "edge_sdk": edge_sdk_version(), "route": "inference copy: batch 1, RNN unrolled"},
        parity=parity_dict,
        golden=cases,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    written = write_bundle(path, result.tflite, manifest, assets)
    _log.info("wrote bundle %s (%s, %d bytes, %d golden cases)", path, result.mode, result.size_bytes, len(cases))
    return written


def _input_spec(name: str, info: Any, preprocessing: Preprocessing) -> InputSpec:
    # Our converter names each signature input after its role; the preprocessing says how to feed it.
    spec = getattr(preprocessing, name, None) if name in ROLES else None
    if spec is None:
        raise ConversionError(
            f"model input {name!r} has no preprocessing. Expected inputs among: {list(preprocessing.modalities)}"
        )
    return InputSpec(name=name, role=name, shape=info.shape, dtype=info.dtype, preprocess=spec, quantization=info.quantization)  # type: ignore[arg-type]


def _golden_cases(
    result: ConversionResult, preprocessing: Preprocessing, samples: Sequence[GoldenSample], output_name: str
) -> tuple[tuple[GoldenCase, ...], dict[str, bytes]]:
    if not samples:
        return (), {}
    runner = TFLiteRunner(result.tflite)
    atol = golden_atol(result, output_name)
    cases, assets = [], {}
    for index, sample in enumerate(samples):
        tensors = preprocessing.tensors(
            [sample.image_bgr] if sample.image_bgr is not None else None,
            [sample.text] if sample.text is not None else None,
            [sample.sensor] if sample.sensor is not None else None,
        )
        missing = [name for name in result.inputs if name not in tensors]
        if missing:
            raise ConversionError(f"golden sample {index} lacks inputs {missing} that the model needs")
        runner.feed(tensors)
        runner.invoke()
        expected = tuple(float(x) for x in runner.output(output_name)[0])
        image_asset = None
        if sample.image_bgr is not None:
            image_asset = f"golden/{index:03d}.npy"
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(sample.image_bgr, dtype=np.uint8), allow_pickle=False)
            assets[image_asset] = buffer.getvalue()
        cases.append(
            GoldenCase(
                image_asset=image_asset,
                text=sample.text,
                sensor=dict(sample.sensor) if sample.sensor is not None else None,
                expected={output_name: expected},
                atol=atol,
                label=sample.label,
            )
        )
    return tuple(cases), assets
