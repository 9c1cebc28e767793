"""`edge-sdk info`: a bundle described for people."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from test_wrap import IMAGE, SCORES, SENSOR, tiny_tflite

from edge_sdk.bundle import GoldenCase, ModelInfo, read_bundle, write_bundle
from edge_sdk.bundle.describe import describe_bundle
from edge_sdk.bundle.wrap import wrap_tflite

PARITY = {
    "mode": "int8", "samples": 160, "keras_accuracy": 0.95, "tflite_accuracy": 0.944, "top1_agreement": 0.994,
    "max_abs_score_error": 0.0312, "mean_abs_score_error": 0.0021, "latency_ms": {"1": 0.41, "2": 0.33},
    "op_counts": {"CONV_2D": 3, "FULLY_CONNECTED": 17}, "float_ops": {"SPLIT": 1}, "builtin_only": True,
}  # fmt: skip


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    source = tmp_path / "model.tflite"
    source.write_bytes(tiny_tflite())
    wrapped = wrap_tflite(source, tmp_path / "wrapped.tflite", [IMAGE, SENSOR], [SCORES], ModelInfo("colours", "2", "demo"))
    frame = io.BytesIO()
    np.save(frame, np.zeros((4, 4, 3), np.uint8))
    golden = GoldenCase("golden/000.npy", None, {"distance_cm": 50.0, "lux": 1.0}, {"scores": (0.1, 0.2, 0.7)}, 0.0117, "blue")
    manifest = wrapped.__class__(**{**wrapped.__dict__, "parity": PARITY, "golden": (golden,), "quantization": "int8"})
    path = tmp_path / "described.tflite"
    write_bundle(path, source.read_bytes(), manifest, {"golden/000.npy": frame.getvalue(), "labels.txt": b"red\ngreen\nblue\n"})
    return path


def test_description_lists_inputs_outputs_parity_and_goldens(bundle_path: Path) -> None:
    text = describe_bundle(bundle_path)
    bundle = read_bundle(bundle_path)
    assert "colours version 2 — demo" in text
    assert bundle.sha256 in text
    assert "quantization int8" in text
    assert "4x4 stretch (opencv, auto), RGB, mean [127.5, 127.5, 127.5] std [127.5, 127.5, 127.5]" in text
    assert "distance_cm [cm] (x-100)/50; lux (x-0)/1" in text
    assert "task classify, labels red, green, blue; bound by signature 'serving_default'" in text
    lines = text.splitlines()
    image_row = next(line for line in lines if line.strip().startswith("image"))
    assert image_row.split()[:4] == ["image", "image", "1x4x4x3", "float32"]
    scores_row = next(line for line in lines if line.strip().startswith("scores"))
    assert scores_row.rstrip().endswith("red, green, blue")
    assert "on 160 held-out samples: accuracy Keras 0.9500, TFLite 0.9440, top-1 agreement 0.9940" in text
    assert "0.41 ms at 1 thread(s), 0.33 ms at 2 thread(s)" in text
    assert "ops         20 (2 kinds), builtin only: yes, in float: SPLIT x1" in text
    assert "golden      1 vectors, atol 0.0117" in text
    assert "golden/000.npy" in text


def test_a_bundle_without_parity_or_goldens_says_so(tmp_path: Path) -> None:
    source = tmp_path / "model.tflite"
    source.write_bytes(tiny_tflite())
    wrap_tflite(source, tmp_path / "w.tflite", [IMAGE, SENSOR], [SCORES], ModelInfo("plain"))
    text = describe_bundle(read_bundle(tmp_path / "w.tflite"))
    assert "parity      not measured" in text
    assert "golden      none (the runtime cannot self-check this model at load time)" in text
    assert "quantization external" in text
