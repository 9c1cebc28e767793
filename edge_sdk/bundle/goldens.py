"""Golden vectors for a wrapped model: recorded where it is wrapped, checked wherever it runs.

A third-party ``.tflite`` comes with no examples of its own, yet the runtime, ``edge-sdk info --verify``
and a signed update (which refuses a bundle with nothing to show it runs as made) all check goldens.
``wrap`` therefore runs each image-only signature on a few images (the user's, or one synthetic, seeded
image) with the installed interpreter and records the raw outputs. The tolerance allows what differs
between interpreters and delegates (a quantization step or two, float rounding), not a different
model or a broken preprocessing.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_sdk.bundle.manifest import GoldenCase, Manifest, SignatureSpec

__all__ = ["MAX_GOLDEN_VALUES", "record_goldens", "synthetic_image"]

_log = logging.getLogger(__name__)

MAX_GOLDEN_VALUES = 65_536  # per case, over all outputs: beyond this the manifest would grow by megabytes


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A seeded BGR uint8 image with gradients, blocks and mild noise: structure every model responds to."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([255 * x / max(width - 1, 1), 255 * y / max(height - 1, 1),
                      127.5 + 127.5 * np.sin((x + y) / max(height, width) * 6.0)], axis=-1)
    for _ in range(6):
        top, left = rng.integers(0, height), rng.integers(0, width)
        image[top:top + height // 4, left:left + width // 4] = rng.integers(0, 256, size=3)
    image += rng.normal(0.0, 4.0, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def record_goldens(bundle_path: Path, manifest: Manifest,
                   images: Sequence[np.ndarray] = ()) -> tuple[tuple[GoldenCase, ...], dict[str, bytes]]:
    """Cases and their image assets for every signature fed by one image input and nothing else."""
    from edge_sdk.bundle.io import read_bundle
    from edge_sdk.model import FusionModel

    bundle = read_bundle(bundle_path)
    several = len(manifest.signatures) > 1
    cases: list[GoldenCase] = []
    assets: dict[str, bytes] = {}
    for signature in manifest.signatures:
        if [spec.role for spec in signature.inputs] != ["image"]:
            _log.info("signature %r: no goldens recorded (its inputs are not one image)", signature.key)
            continue
        samples = list(images) or [synthetic_image(*_golden_size(signature))]
        with FusionModel.from_bundle(bundle, signature=signature.key, verify_golden=False) as model:
            for index, image in enumerate(samples):
                outputs = model.infer(model.prepare(image=image))
                expected = {name: np.asarray(value, dtype=np.float64).reshape(-1) for name, value in outputs.items()}
                values = sum(v.size for v in expected.values())
                if values > MAX_GOLDEN_VALUES:
                    _log.info("signature %r: no goldens recorded (%d output values, over %d)",
                              signature.key, values, MAX_GOLDEN_VALUES)
                    break
                asset = f"golden/{signature.key or 'model'}_{index:03d}.npy" if several else f"golden/{index:03d}.npy"
                buffer = io.BytesIO()
                np.save(buffer, np.ascontiguousarray(image, dtype=np.uint8), allow_pickle=False)
                assets[asset] = buffer.getvalue()
                cases.append(GoldenCase(
                    image_asset=asset, text=None, sensor=None,
                    expected={name: tuple(float(f"{x:.6g}") for x in v) for name, v in expected.items()},
                    atol=_tolerance(signature, expected), label=model.decode(outputs).label,
                    signature=signature.key if several else None,
                ))
    return tuple(cases), assets


def _golden_size(signature: SignatureSpec) -> tuple[int, int]:
    """The model's input size (at least 32 pixels a side): the asset stays small in the bundle."""
    shape = signature.inputs[0].shape
    height, width = (shape[1], shape[2]) if len(shape) == 4 else (64, 64)
    return max(32, int(height)), max(32, int(width))


def _tolerance(signature: SignatureSpec, expected: dict[str, np.ndarray]) -> float:
    """Two quantization steps of a quantized output, and 1 % of the output's largest value (at least 1e-4):
    kernels differ between interpreters, delegates and CPUs (a Pi's ARM kernels are not x86's), while a
    wrong preprocessing or a different model moves outputs by far more."""
    atol = 1e-4
    for spec in signature.outputs:
        values = expected.get(spec.name)
        if values is None or values.size == 0:
            continue
        quantization = spec.quantization
        if quantization is not None and quantization.scale:
            atol = max(atol, 2.0 * float(quantization.scale))
        atol = max(atol, 1e-2 * float(np.max(np.abs(values))))
    return atol
