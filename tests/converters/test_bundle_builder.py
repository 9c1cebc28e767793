"""Bundles built from converted tiny models: round trip, goldens re-run from the file alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from test_convert_support import converted, seek_data, tiny_model

from converters.bundle_builder import GoldenSample, build_bundle, golden_atol
from converters.convert import MODES
from converters.errors import ConversionError
from converters.validate import validate
from edge_sdk.bundle import Manifest, ModelInfo, read_bundle
from edge_sdk.preprocess import Tokenizer, normalize_image, prepare_image, scale_sensor

pytestmark = [pytest.mark.host, pytest.mark.slow]


def _golden_samples(count: int = 4) -> list[GoldenSample]:
    preprocessing, _, held_out = seek_data()
    return [
        GoldenSample(held_out.images_bgr[i], held_out.texts[i], held_out.sensors[i], preprocessing.labels[held_out.labels[i]])
        for i in range(count)
    ]


@pytest.fixture(scope="module", params=["float32", "int8_io_uint8", "int8"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest, str]:
    mode = request.param
    preprocessing, _, held_out = seek_data()
    model, _, _ = tiny_model("attention", "lstm")
    result = converted("attention", "lstm", MODES)[mode]
    parity = validate(result, model, held_out.tensors, held_out.labels, preprocessing.labels, latency_runs=100)
    path = tmp_path_factory.mktemp("bundle") / f"seek_{mode}.tflite"
    manifest = build_bundle(
        path, result, preprocessing, ModelInfo("seek", "3", "tiny test model"),
        fusion="attention", parity=parity, golden=_golden_samples(),
    )  # fmt: skip
    return path, manifest, mode


def test_read_bundle_gives_back_the_same_manifest(built: tuple[Path, Manifest, str]) -> None:
    path, manifest, mode = built
    bundle = read_bundle(path)
    assert bundle.manifest == manifest
    assert manifest.quantization == mode and manifest.fusion == "attention"
    assert manifest.tflite_sha256 == bundle.sha256
    assert bundle.flatbuffer == converted("attention", "lstm", MODES)[mode].tflite
    assert [spec.name for spec in manifest.inputs] == ["image", "sensor", "text"]
    assert manifest.input("image").shape == (1, 32, 32, 3)
    assert manifest.scores_output.labels == ("left", "center", "right", "absent", "blocked")
    assert manifest.parity["mode"] == mode and manifest.parity["samples"] == 160
    assert {"tensorflow", "keras", "ai_edge_litert"} <= set(manifest.converter)
    vocabulary = bundle.assets["vocabulary.txt"].decode().split()
    assert vocabulary[:2] == ["<pad>", "<unk>"] and "circle" in vocabulary
    assert bundle.assets["labels.txt"].decode().split() == list(manifest.scores_output.labels)


def test_quantization_in_manifest_matches_the_flatbuffer(built: tuple[Path, Manifest, str]) -> None:
    _, manifest, mode = built
    image, scores = manifest.input("image"), manifest.scores_output
    if mode == "int8_io_uint8":
        assert (image.dtype, image.quantization.scale, image.quantization.zero_point) == ("uint8", 1.0, 0)
        assert scores.dtype == "uint8" and scores.quantization.scale == pytest.approx(1 / 256)
        assert manifest.golden[0].atol == pytest.approx(3 / 256)
    elif mode == "float32":
        assert image.dtype == "float32" and image.quantization is None
        assert manifest.golden[0].atol == 1e-4
    assert manifest.input("text").dtype == "int32" and manifest.input("text").quantization is None


def test_goldens_pass_when_rerun_from_the_bundle_file_alone(built: tuple[Path, Manifest, str]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    path, _, _ = built
    bundle = read_bundle(path)
    manifest = bundle.manifest
    assert len(manifest.golden) == 4
    # Any interpreter loads the whole bundle file as a plain model (the zip after it is ignored).
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner()
    tokenizer = Tokenizer(manifest.input("text").preprocess)
    for case in manifest.golden:
        frame = bundle.asset_array(case.image_asset)
        assert frame.dtype == np.uint8 and frame.shape == (32, 32, 3)
        raw = {
            "image": normalize_image(prepare_image(frame, manifest.input("image").preprocess, "BGR"), manifest.input("image").preprocess),
            "text": tokenizer.encode(case.text),
            "sensor": scale_sensor(case.sensor, manifest.input("sensor").preprocess),
        }
        feeds = {}
        for spec in manifest.inputs:
            value = raw[spec.name][None]
            if spec.quantization is not None:
                q = spec.quantization
                value = np.clip(np.round(value / q.scale + q.zero_point), *_limits(spec.dtype))
            feeds[spec.name] = value.astype(spec.dtype)
        out = runner(**feeds)["scores"]
        q = manifest.scores_output.quantization
        scores = (out.astype(np.float32) - q.zero_point) * q.scale if q else out
        np.testing.assert_allclose(scores[0], case.expected["scores"], atol=case.atol, rtol=0)
        assert case.label in manifest.scores_output.labels


def _limits(dtype: str) -> tuple[int, int]:
    info = np.iinfo(np.dtype(dtype))
    return int(info.min), int(info.max)


def test_label_count_must_fit_the_output(tmp_path: Path) -> None:
    preprocessing, _, _ = seek_data()
    result = converted("attention", "lstm", MODES)["float32"]
    wrong = dataclasses.replace(preprocessing, labels=("yes", "no"))
    with pytest.raises(ConversionError, match=r"one score per label. Expected: 2 \(\['yes', 'no'\]\). Got: shape=\(1, 5\)"):
        build_bundle(tmp_path / "x.tflite", result, wrong, ModelInfo("seek"))


def test_input_without_preprocessing_is_refused(tmp_path: Path) -> None:
    preprocessing, _, _ = seek_data()
    result = converted("attention", "lstm", MODES)["float32"]
    no_sensor = dataclasses.replace(preprocessing, sensor=None)
    with pytest.raises(ConversionError, match=r"model input 'sensor' has no preprocessing. Expected inputs among: \['image', 'text'\]"):
        build_bundle(tmp_path / "x.tflite", result, no_sensor, ModelInfo("seek"))


def test_golden_atol_by_mode() -> None:
    results = converted("attention", "lstm", MODES)
    assert golden_atol(results["float32"]) == 1e-4
    assert golden_atol(results["int8_io_int8"]) == pytest.approx(3 / 256)
    assert golden_atol(results["int8"]) == pytest.approx(3 / 256)
