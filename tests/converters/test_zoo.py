"""The committed model zoo (tests/fixtures/zoo): files match zoo.json, load and run in ai-edge-litert.

The fast tests need only ai-edge-litert and numpy (no TensorFlow); the slow one rebuilds the zoo with
TensorFlow's converter and checks the same tensor contract.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

litert = pytest.importorskip("ai_edge_litert.interpreter")

from converters.tflite_metadata import METADATA_NAME, associated_files, read_metadata
from converters.zoo import FORMAT, MODELS, NO_SIGNATURE, describe_tflite

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"
INDEX = json.loads((ZOO / "zoo.json").read_text())
ENTRIES = {entry["name"]: entry for entry in INDEX["models"]}
MAX_TOTAL_BYTES = 400_000


def _interpreter(name: str, **options: Any) -> Any:
    return litert.Interpreter(model_path=str(ZOO / ENTRIES[name]["file"]), **options)


def _input(detail: dict[str, Any], seed: int = 0) -> np.ndarray:
    """A deterministic input for one tensor: pixels in [0, 1], token ids, or int8 codes."""
    rng = np.random.default_rng(seed)
    shape, dtype = tuple(detail["shape"]), detail["dtype"]
    if dtype == np.int32:
        return rng.integers(0, ENTRIES["two_signatures"]["task_params"]["vocabulary"], shape, dtype=np.int32)
    if dtype == np.int8:
        return rng.integers(-128, 128, shape, dtype=np.int8)
    return rng.uniform(0.0, 1.0, shape).astype(dtype)


def test_the_index_lists_every_model_once_and_the_files_are_small() -> None:
    assert INDEX["format"] == FORMAT
    assert [entry["name"] for entry in INDEX["models"]] == list(MODELS)
    assert {"tensorflow", "ai_edge_litert"} <= set(INDEX["built_with"])
    on_disk = sorted(path.name for path in ZOO.glob("*.tflite"))
    assert on_disk == sorted(entry["file"] for entry in INDEX["models"])
    total = sum((ZOO / entry["file"]).stat().st_size for entry in INDEX["models"])
    assert total == INDEX["total_bytes"] <= MAX_TOTAL_BYTES


@pytest.mark.parametrize("name", MODELS)
def test_file_matches_its_size_and_sha256(name: str) -> None:
    data = (ZOO / ENTRIES[name]["file"]).read_bytes()
    assert len(data) == ENTRIES[name]["size_bytes"]
    assert hashlib.sha256(data).hexdigest() == ENTRIES[name]["sha256"], f"{name} changed: run `make zoo`"


@pytest.mark.parametrize("name", MODELS)
def test_loads_with_the_described_tensors_and_runs_to_finite_outputs(name: str) -> None:
    data = (ZOO / ENTRIES[name]["file"]).read_bytes()
    assert describe_tflite(data) == ENTRIES[name]["signatures"]
    interpreter = _interpreter(name)
    keys = sorted(interpreter.get_signature_list())
    if not keys:
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], _input(detail))
        interpreter.invoke()
        outputs = [interpreter.get_tensor(detail["index"]) for detail in interpreter.get_output_details()]
    else:
        outputs = []
        for key in keys:
            runner = interpreter.get_signature_runner(key)
            inputs = {n: _input(d) for n, d in runner.get_input_details().items()}
            outputs += list(runner(**inputs).values())
    assert outputs
    for output in outputs:
        assert np.all(np.isfinite(output.astype(np.float64)))


def test_no_signature_model_has_none_and_graph_names() -> None:
    interpreter = _interpreter("no_signature")
    assert interpreter.get_signature_list() == {}
    signatures = ENTRIES["no_signature"]["signatures"]
    assert list(signatures) == [NO_SIGNATURE]
    assert [t["name"] for t in signatures[NO_SIGNATURE]["inputs"]] == ["image"]
    assert [t["name"] for t in signatures[NO_SIGNATURE]["outputs"]] == ["probabilities"]


def test_two_signatures_embed_image_and_text_into_one_space() -> None:
    interpreter = _interpreter("two_signatures")
    assert interpreter.get_signature_list() == {
        "embed_image": {"inputs": ["image"], "outputs": ["embedding"]},
        "embed_text": {"inputs": ["token_ids"], "outputs": ["embedding"]},
    }
    image = interpreter.get_signature_runner("embed_image")(image=np.full((1, 32, 32, 3), 0.5, np.float32))
    text = interpreter.get_signature_runner("embed_text")(token_ids=np.arange(16, dtype=np.int32)[None])
    for embedding in (image["embedding"], text["embedding"]):
        assert embedding.shape == (1, 32)
        assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)


def test_embedder_is_l2_normalised_and_segmenter_gives_probabilities() -> None:
    assert ENTRIES["embedder"]["task_params"]["l2_normalized"] is True
    embedding = _interpreter("embedder").get_signature_runner()(image=_input({"shape": (1, 64, 64, 3), "dtype": np.float32}))
    assert np.linalg.norm(embedding["embedding"]) == pytest.approx(1.0, abs=1e-5)
    mask = _interpreter("segmenter").get_signature_runner()(image=_input({"shape": (1, 64, 64, 3), "dtype": np.float32}))
    assert mask["mask"].shape == (1, 64, 64, 3)
    np.testing.assert_allclose(mask["mask"].sum(axis=-1), 1.0, atol=1e-5)


def test_stateful_model_carries_state_and_only_a_fresh_interpreter_resets_it() -> None:
    params = ENTRIES["stateful_int8"]["task_params"]
    features = ((np.arange(120) % 41) * 6 - 120).astype(np.int8).reshape(1, *params["feature_window"])
    interpreter = _interpreter("stateful_int8")
    runner = interpreter.get_signature_runner()
    assert runner.get_input_details()["features"]["dtype"] == np.int8
    assert runner.get_output_details()["scores"]["dtype"] == np.uint8
    first, second = (runner(features=features)["scores"].copy() for _ in range(2))
    assert not np.array_equal(first, second), "the same input twice gave the same output: no state"
    interpreter.reset_all_variables()
    after_reset = runner(features=features)["scores"].copy()
    # TFLite's ResetVariableTensors zeroes is_variable tensors only, not VAR_HANDLE resource
    # variables: the state survives. zoo.json says so; this fails when a runtime starts resetting it.
    assert params["reset_all_variables_resets_state"] is False
    assert not np.array_equal(after_reset, first)
    fresh = _interpreter("stateful_int8").get_signature_runner()(features=features)["scores"]
    np.testing.assert_array_equal(fresh, first)


def _decode(encoding: np.ndarray, anchor: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    ty, tx, th, tw = encoding
    ya, xa, ha, wa = anchor
    yc, xc = ty / params["y_scale"] * ha + ya, tx / params["x_scale"] * wa + xa
    h, w = np.exp(th / params["h_scale"]) * ha, np.exp(tw / params["w_scale"]) * wa
    return np.array([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detector_boxes_are_valid_sorted_and_decode_from_the_recorded_anchors(seed: int) -> None:
    params = ENTRIES["detector_postprocess"]["task_params"]
    assert ENTRIES["detector_postprocess"]["custom_ops"] == ["TFLite_Detection_PostProcess"]
    resolver = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = _interpreter("detector_postprocess", experimental_preserve_all_tensors=True,
                               experimental_op_resolver_type=resolver)
    size = params["input_size"]  # the detector's input is square, at the size the backbone was built for
    [image] = ENTRIES["detector_postprocess"]["signatures"]["serving_default"]["inputs"]
    assert image["shape"] == [1, size, size, 3]
    out = interpreter.get_signature_runner()(image=_input({"shape": (1, size, size, 3), "dtype": np.float32}, seed))
    count = int(out["num_detections"][0])
    m = params["max_detections"]
    assert out["boxes"].shape == (1, m, 4) and out["scores"].shape == out["classes"].shape == (1, m)
    assert 0 < count <= m
    boxes, scores, classes = out["boxes"][0, :count], out["scores"][0, :count], out["classes"][0, :count]
    assert np.all((boxes >= 0.0) & (boxes <= 1.0))
    assert np.all(boxes[:, 0] < boxes[:, 2]) and np.all(boxes[:, 1] < boxes[:, 3])
    assert np.all(np.diff(scores) <= 0) and np.all(scores >= params["nms_score_threshold"])
    assert set(classes.tolist()) <= set(range(params["num_classes"]))

    tensors = {d["name"]: d["index"] for d in interpreter.get_tensor_details()}
    anchors = interpreter.get_tensor(tensors["anchors"])
    np.testing.assert_allclose(anchors, params["anchors"], atol=1e-6)
    encodings = interpreter.get_tensor(tensors["box_encodings"])[0]
    class_scores = interpreter.get_tensor(tensors["class_predictions"])[0, :, 1:]  # column 0: background
    best = int(np.argmax(class_scores.max(axis=1)))
    assert scores[0] == pytest.approx(class_scores[best].max(), abs=1e-6)
    assert classes[0] == int(np.argmax(class_scores[best]))
    np.testing.assert_allclose(boxes[0], _decode(encodings[best], anchors[best], params), atol=1e-5)


def test_metadata_model_has_the_metadata_flatbuffer_and_the_labels_zip() -> None:
    data = (ZOO / ENTRIES["classifier_with_metadata"]["file"]).read_bytes()
    labels = ENTRIES["classifier_with_metadata"]["task_params"]["labels"]
    with zipfile.ZipFile(ZOO / ENTRIES["classifier_with_metadata"]["file"]) as zipped:
        assert zipped.namelist() == ["labels.txt"]
        assert zipped.read("labels.txt").decode().splitlines() == labels
    assert associated_files(data) == {"labels.txt": "".join(f"{label}\n" for label in labels).encode()}
    metadata = read_metadata(data, METADATA_NAME)
    assert metadata is not None and metadata[4:8] == b"M001"
    assert b"labels.txt" in metadata and b"image" in metadata and b"probabilities" in metadata
    output = _interpreter("classifier_with_metadata").get_signature_runner()(
        image=(_input({"shape": (1, 64, 64, 3), "dtype": np.float32}) * 255 - 127.5) / 127.5)
    assert output["probabilities"].shape == (1, len(labels))
    assert float(output["probabilities"].sum()) == pytest.approx(1.0, abs=1e-5)


def _contract(signatures: dict[str, Any]) -> dict[str, Any]:
    """Names, shapes, dtypes and whether quantized; not the scales, which calibration may move."""
    return {key: {side: [(t["name"], t["tensor_name"], t["shape"], t["dtype"], t["quantization"] is not None)
                         for t in io[side]] for side in ("inputs", "outputs")}
            for key, io in signatures.items()}


@pytest.mark.host
@pytest.mark.slow
def test_rebuilding_the_zoo_gives_the_same_tensor_contract(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from converters.zoo import build_zoo

    entries = build_zoo(tmp_path)
    assert [e.name for e in entries] == list(MODELS)
    for entry in entries:
        committed = ENTRIES[entry.name]
        assert _contract(entry.signatures) == _contract(committed["signatures"]), entry.name
        assert entry.ops == committed["ops"] and entry.task_params == committed["task_params"], entry.name
        assert (tmp_path / entry.file).stat().st_size == entry.size_bytes
    assert json.loads((tmp_path / "zoo.json").read_text())["models"][0]["name"] == MODELS[0]
