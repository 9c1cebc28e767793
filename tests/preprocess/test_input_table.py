"""The lookup tables that normalise and quantize camera pixels give exactly the slow path's bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_sdk.bundle.wrap import wrap_from_spec_file
from edge_sdk.model import Model
from edge_sdk.preprocess import ImageSpec, normalize_image
from edge_sdk.preprocess.image import _normalize
from edge_sdk.runtime import default_bundle_path

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"
SPECS = [
    ImageSpec(width=8, height=8, mean=(127.5,) * 3, std=(127.5,) * 3),
    ImageSpec(width=8, height=8, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
    ImageSpec(width=8, height=8, mean=(0.0,) * 3, std=(255.0,) * 3),
]


@pytest.mark.parametrize("spec", SPECS, ids=["minus1-1", "imagenet", "0-1"])
def test_normalize_image_table_gives_the_arithmetics_bits(spec: ImageSpec) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    fast, slow = normalize_image(pixels, spec), _normalize(pixels, spec.mean, spec.std)
    assert fast.dtype == slow.dtype == np.float32
    assert fast.tobytes() == slow.tobytes()


def test_strided_or_grey_pixels_take_the_arithmetic() -> None:
    spec = SPECS[1]
    pixels = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)[:, ::2]  # not contiguous
    assert normalize_image(pixels, spec).tobytes() == _normalize(pixels, spec.mean, spec.std).tobytes()


def _bundles(tmp_path: Path) -> list[Path]:
    paths = [default_bundle_path()]  # uint8 image input (full int8 with uint8 I/O)
    for name in ("detector_postprocess", "segmenter", "embedder", "classifier_with_metadata"):
        out = tmp_path / f"{name}.tflite"
        wrap_from_spec_file(ZOO / f"{name}.tflite", out, ZOO / "specs" / f"{name}.yaml")
        paths.append(out)
    return paths


def test_model_input_table_equals_the_slow_path_for_every_bundle(tmp_path: Path, tiny_dual_encoder: Path) -> None:
    """Float inputs (the zoo, the dual encoder's int8 bundle with float I/O) and uint8 camera bytes."""
    rng = np.random.default_rng(2)
    checked = set()
    for path, key in [(p, None) for p in _bundles(tmp_path)] + [(tiny_dual_encoder, "embed_image")]:
        with Model.from_bundle(path, signature=key) as model:
            spec_in = model.signature.input("image")
            assert spec_in is not None
            kwargs = {"text": "find the red circle", "sensor": {"distance_cm": 80.0}} if "text" in model.roles else {}
            for shape in ((160, 160, 3), (480, 640, 3), (7, 9, 3)):
                frame = rng.integers(0, 256, shape, dtype=np.uint8)
                model.image_tensor_maker._table = None
                fast = model.prepare(image=frame, color_order="BGR", **kwargs)[spec_in.name]
                used = isinstance(model.image_tensor_maker._table, np.ndarray)  # built unless the bytes go in untouched
                model.image_tensor_maker._table = False
                slow = model.prepare(image=frame, color_order="BGR", **kwargs)[spec_in.name]
                assert fast.dtype == slow.dtype and fast.shape == slow.shape
                assert fast.tobytes() == slow.tobytes(), (path.name, shape)
                if used:
                    checked.add(fast.dtype.name)
    assert "float32" in checked, checked
