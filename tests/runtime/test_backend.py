"""The inference backend and FusionModel on the shipped seek bundle.

Runs on ai-edge-litert by default and, in CI, again on tflite-runtime with numpy<2
(EDGE_SDK_BACKEND=tflite_runtime, see `make test-tflite-runtime`). Needs numpy and an interpreter
only: no OpenCV, no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.backends.tflite import TFLiteBackend, available_runtimes
from edge_sdk.bundle import Quantization, read_bundle, write_bundle
from edge_sdk.errors import BackendError, BundleError, InputError
from edge_sdk.model import FusionModel
from edge_sdk.runtime import default_bundle_path

RUNTIME = os.environ.get("EDGE_SDK_BACKEND") or None


@pytest.fixture(scope="module")
def bundle():  # type: ignore[no-untyped-def]
    return read_bundle(default_bundle_path())


@pytest.fixture(scope="module")
def model(bundle):  # type: ignore[no-untyped-def]
    with FusionModel.from_bundle(bundle, runtime=RUNTIME) as loaded:
        yield loaded


def _rewrite(tmp_path: Path, bundle, manifest=None, flatbuffer=None) -> Path:  # type: ignore[no-untyped-def]
    """Write a variant of the bundle; write_bundle recomputes the SHA-256 unless told otherwise."""
    path = tmp_path / "variant.tflite"
    write_bundle(path, flatbuffer or bundle.flatbuffer, manifest or bundle.manifest, bundle.assets)
    return path


def _expected_runtime() -> str:
    """The documented preference, from what is installed here (not from the code under test): ai-edge-litert,
    then tflite-runtime, and TensorFlow's interpreter only when neither is there."""
    if RUNTIME:
        return RUNTIME
    for package in ("ai_edge_litert", "tflite_runtime"):
        if importlib.util.find_spec(package) is not None:
            return package
    return "tensorflow"


def test_runtime_is_the_requested_one(model) -> None:  # type: ignore[no-untyped-def]
    expected = _expected_runtime()
    assert model.backend.runtime == expected
    # and the interpreter really is that package's, not just named after it
    assert type(model.backend._interpreter).__module__.split(".")[0] == expected
    assert available_runtimes()[0] == expected  # what the listing says agrees with what was loaded


def test_inputs_and_outputs_bind_by_manifest_name(model, bundle) -> None:  # type: ignore[no-untyped-def]
    assert set(model.backend.inputs) == {spec.name for spec in bundle.manifest.inputs} == {"image", "text", "sensor"}
    assert set(model.backend.outputs) == {"scores"}
    image = model.backend.inputs["image"]
    # int8 model with uint8 I/O: camera bytes go in unchanged
    assert (image.dtype, image.scale, image.zero_point) == (np.dtype(np.uint8), 1.0, 0)
    assert model.backend.inputs["text"].dtype == np.int32


def test_golden_vectors_pass_and_give_their_labels(model, bundle) -> None:  # type: ignore[no-untyped-def]
    assert model.verify_golden() == len(bundle.manifest.golden) >= 3
    for case in bundle.manifest.golden:
        image = bundle.asset_array(case.image_asset)
        prediction = model.predict(image=image, text=case.text, sensor=case.sensor)
        expected = np.asarray(case.expected["scores"])
        assert prediction.label == model.labels[int(expected.argmax())]
        assert abs(sum(prediction.scores.values()) - 1.0) < 0.05


def test_prepare_quantizes_each_input_with_its_own_parameters(model, bundle) -> None:  # type: ignore[no-untyped-def]
    case = bundle.manifest.golden[0]
    image = bundle.asset_array(case.image_asset)
    tensors = model.prepare(image=image, text="find the red circle", sensor={"distance_cm": 42.0})
    assert tensors["image"].shape == (1, 64, 64, 3) and tensors["image"].dtype == np.uint8
    assert np.array_equal(tensors["image"][0], image[:, :, ::-1])  # BGR frame, RGB model
    sensor = model.backend.inputs["sensor"]
    spec = bundle.manifest.input("sensor").preprocess.channels[0]
    if sensor.quantized:
        real = (tensors["sensor"].astype(np.float32) - sensor.zero_point) * sensor.scale
        assert abs(float(real[0, 0]) - (42.0 - spec.mean) / spec.std) <= sensor.scale
    assert tensors["text"].dtype == np.int32 and tensors["text"][0, -1] != 0  # pre-padded


def test_text_and_sensor_tensors_made_once_per_value_equal_fresh_ones_and_stay_the_callers(  # type: ignore[no-untyped-def]
        model, bundle) -> None:
    from edge_sdk.model import FusionModel

    image = np.zeros((64, 64, 3), np.uint8)
    inputs = [("find the red circle", 42.0), ("find the red circle", 42.0), ("find the blue square", 42.0),
              ("find the blue square", 17.5), ("find the red circle", 42.0)]
    fresh = FusionModel(bundle, model.backend, verify_golden=False)
    for text, distance_cm in inputs:
        got = model.prepare(image=image, text=text, sensor={"distance_cm": distance_cm})
        fresh._text_tensor._last = fresh._sensor_tensor._last = None  # as a first call: tokenized and quantized anew
        want = fresh.prepare(image=image, text=text, sensor={"distance_cm": distance_cm})
        assert np.array_equal(got["text"], want["text"]) and np.array_equal(got["sensor"], want["sensor"])
        got["text"][:] = 0  # a caller that writes into its tensors changes nothing the next call sees
        got["sensor"][:] = 0
    again = model.prepare(image=image, text="find the red circle", sensor={"distance_cm": 42.0})
    assert again["text"][0, -1] != 0 and np.array_equal(again["sensor"], want["sensor"])


def test_missing_input_is_named(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="this model needs a sensor input. Got: none"):
        model.prepare(image=np.zeros((64, 64, 3), np.uint8), text="find the red circle")
    with pytest.raises(InputError, match="sensor reading lacks channel 'distance_cm'"):
        model.prepare(image=np.zeros((64, 64, 3), np.uint8), text="go", sensor={"range": 3.0})


def test_wrong_tensor_dtype_is_reported_with_expected_and_got(model) -> None:  # type: ignore[no-untyped-def]
    tensors = model.prepare(image=np.zeros((64, 64, 3), np.uint8), text="seek red circle", sensor={"distance_cm": 50.0})
    tensors["image"] = tensors["image"].astype(np.float32)
    with pytest.raises(InputError, match=r"input 'image' must be uint8 of shape \(1, 64, 64, 3\). Got: float32"):
        model.infer(tensors)


def test_not_a_tflite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.tflite"
    path.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(BundleError, match="not a TFLite flatbuffer: .*zip archive"):
        FusionModel.from_bundle(path, runtime=RUNTIME)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="model bundle not found: .*nowhere.tflite"):
        FusionModel.from_bundle(tmp_path / "nowhere.tflite", runtime=RUNTIME)


def test_plain_tflite_without_manifest_points_to_wrap(tmp_path: Path, bundle) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "plain.tflite"
    path.write_bytes(bundle.flatbuffer)
    with pytest.raises(BundleError, match="without an edge_sdk manifest.*edge-sdk wrap"):
        read_bundle(path)
    # ... and the bundle itself still loads in a plain interpreter: trailing bytes are ignored
    backend = TFLiteBackend(default_bundle_path().read_bytes(), runtime=RUNTIME)
    assert set(backend.inputs) == {"image", "text", "sensor"}
    backend.close()


def test_edited_flatbuffer_fails_its_checksum(tmp_path: Path, bundle) -> None:  # type: ignore[no-untyped-def]
    path = _rewrite(tmp_path, bundle)
    data = bytearray(path.read_bytes())
    data[len(bundle.flatbuffer) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its manifest"):
        read_bundle(path)


def test_truncated_bundle_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.tflite"
    whole = default_bundle_path().read_bytes()
    path.write_bytes(whole[:5000])  # inside the flatbuffer
    with pytest.raises(BundleError, match=r"truncated: 5000 bytes, but the TFLite flatbuffer refers to byte \d+"):
        read_bundle(path)
    path.write_bytes(whole[:-100])  # inside the attached archive
    with pytest.raises(BundleError, match=r"truncated or corrupt: the bundle's attached archive .* is cut off"):
        read_bundle(path)


def test_manifest_naming_other_inputs_is_refused(tmp_path: Path, bundle) -> None:  # type: ignore[no-untyped-def]
    inputs = tuple(dataclasses.replace(s, name="camera") if s.role == "image" else s for s in bundle.manifest.inputs)
    path = _rewrite(tmp_path, bundle, bundle.manifest.with_primary(inputs=inputs))
    with pytest.raises(BundleError, match=r"manifest inputs do not match the model's signature. "
                                          r"Manifest: \['camera', 'sensor', 'text'\]. Model: \['image', 'sensor', 'text'\]"):
        FusionModel.from_bundle(path, runtime=RUNTIME)


def test_manifest_with_wrong_quantization_is_refused(tmp_path: Path, bundle) -> None:  # type: ignore[no-untyped-def]
    inputs = tuple(
        dataclasses.replace(s, quantization=Quantization(0.5, 3)) if s.role == "sensor" else s
        for s in bundle.manifest.inputs
    )
    path = _rewrite(tmp_path, bundle, bundle.manifest.with_primary(inputs=inputs))
    with pytest.raises(BundleError, match="tensor 'sensor': manifest quantization .* but the model has scale="):
        FusionModel.from_bundle(path, runtime=RUNTIME)


def test_failing_golden_vector_refuses_the_model(tmp_path: Path, bundle) -> None:  # type: ignore[no-untyped-def]
    first = bundle.manifest.golden[0]
    scores = first.expected["scores"]
    wrong = scores[1:] + scores[:1]  # the same values on the wrong labels
    golden = (dataclasses.replace(first, expected={"scores": wrong}), *bundle.manifest.golden[1:])
    path = _rewrite(tmp_path, bundle, dataclasses.replace(bundle.manifest, golden=golden))
    with pytest.raises(BundleError, match="golden case 0 fails on this runtime"):
        FusionModel.from_bundle(path, runtime=RUNTIME)
    # the check can be skipped on purpose, e.g. to debug a runtime
    FusionModel.from_bundle(path, runtime=RUNTIME, verify_golden=False).close()


def test_malformed_manifest_json_is_reported(tmp_path: Path, bundle) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.tflite"
    path.write_bytes(bundle.flatbuffer)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("manifest.json", json.dumps({"schema": "edge_sdk.bundle/0"}))
    with pytest.raises(BundleError, match=r"unsupported bundle schema. Expected one of \('edge_sdk.bundle/1', 'edge_sdk.bundle/2'\). Got: 'edge_sdk.bundle/0'"):
        read_bundle(path)


def test_unknown_runtime_name_is_refused(bundle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BackendError, match="unknown TFLite runtime 'onnx'"):
        TFLiteBackend(bundle.flatbuffer, runtime="onnx")


def test_close_is_idempotent(bundle) -> None:  # type: ignore[no-untyped-def]
    model = FusionModel.from_bundle(bundle, runtime=RUNTIME)
    tensors = model.prepare(image=np.zeros((64, 64, 3), np.uint8), text="go", sensor={"distance_cm": 50.0})
    assert set(model.infer(tensors)) == {"scores"}
    model.close()
    model.close()  # a second close neither raises nor revives the interpreter
    with pytest.raises(BackendError, match="the backend is closed"):
        model.infer(tensors)
