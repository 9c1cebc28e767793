"""Every model of the zoo (tests/fixtures/zoo, made by converters.zoo) from its documented spec to a broker.

For each: ``edge-sdk wrap`` from the spec in tests/fixtures/zoo/specs, the runtime's raw outputs
equal a direct interpreter run on the same tensors (max abs 0), and the image models run through
``edge-sdk run`` to a real Mosquitto with every payload valid against ``edge_sdk.result/2``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from edge_sdk.cli import main
from edge_sdk.model import Model
from edge_sdk.testing import MosquittoBroker
from edge_sdk.testing.interpreter import run_directly

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"
TASKS = {"detector_postprocess": "detect", "segmenter": "segment", "embedder": "embed", "stateful_int8": "classify",
         "classifier_with_metadata": "classify", "no_signature": "classify", "two_signatures": "embed"}
IMAGE_MODELS = ["detector_postprocess", "segmenter", "embedder", "classifier_with_metadata", "no_signature"]


def wrap(name: str, tmp_path: Path) -> Path:
    out = tmp_path / f"{name}_bundle.tflite"
    assert main(["wrap", str(ZOO / f"{name}.tflite"), "--spec", str(ZOO / "specs" / f"{name}.yaml"),
                 "--out", str(out)]) == 0
    return out


def raw_inputs(model: Model, rng: np.random.Generator) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for spec in model.signature.inputs:
        if spec.role == "image":
            kwargs["image"] = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)  # not the model's size: resized
        elif spec.role == "tensor":
            kwargs.setdefault("tensors", {})[spec.name] = rng.uniform(-1, 1, spec.shape).astype(np.float32)
    return kwargs


@pytest.mark.parametrize("name", sorted(TASKS))
def test_the_runtime_feeds_and_reads_exactly_what_a_direct_interpreter_does(name: str, tmp_path: Path) -> None:
    path = wrap(name, tmp_path)
    rng = np.random.default_rng(7)
    from edge_sdk.bundle import read_bundle

    for signature in read_bundle(path).manifest.signatures:
        with Model.from_bundle(path, signature=signature.key) as model:
            kwargs = raw_inputs(model, rng)
            tensors = model.prepare(image=kwargs.get("image"), tensors_in=kwargs.get("tensors"), color_order="BGR")
            ours = model.backend.infer(tensors)
            theirs = run_directly(path, signature.key, tensors)
            assert set(ours) == set(theirs)
            for output, value in ours.items():
                assert value.dtype == theirs[output].dtype
                assert float(np.max(np.abs(value.astype(np.float64) - theirs[output]))) == 0.0, output
            prediction = model.decode(model.infer(tensors))
            assert prediction.result is not None and prediction.result.kind == TASKS[name]
            json.dumps(prediction.result.to_json(), allow_nan=False)


def test_a_stateful_model_carries_state_and_reset_starts_it_over(tmp_path: Path) -> None:
    with Model.from_bundle(wrap("stateful_int8", tmp_path)) as model:
        window = {"features": np.full((1, 3, 40), 0.5, np.float32)}
        first = model.predict(tensors=window).outputs["scores"]
        second = model.predict(tensors=window).outputs["scores"]
        assert not np.array_equal(first, second)  # the moving average moved
        model.reset()
        assert np.array_equal(model.predict(tensors=window).outputs["scores"], first)


def test_metadata_labels_fill_in_and_detections_are_in_the_frame(tmp_path: Path) -> None:
    with Model.from_bundle(wrap("classifier_with_metadata", tmp_path)) as model:
        assert model.labels == ("cat", "dog", "bird", "fish")
    with Model.from_bundle(wrap("detector_postprocess", tmp_path)) as model:
        frame = np.zeros((48, 96, 3), np.uint8)
        frame[10:30, 20:50] = 255
        found = model.predict(image=frame).result
        for detection in found.detections:  # type: ignore[union-attr]
            assert all(0.0 <= v <= 1.0 for v in detection.box) and detection.label in ("circle", "square", "triangle")


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_each_image_model_runs_to_a_real_broker_with_valid_v2_payloads(
        name: str, tmp_path: Path, broker: MosquittoBroker, recorder_for: Any, result_validator: Any) -> None:
    from edge_sdk.demo.seek import SeekClip, write_clip

    clip = write_clip(tmp_path / "clip.mp4", SeekClip(seconds=1.0, fps=10.0, size=96, seed=3))
    config = tmp_path / "device.json"
    config.write_text(json.dumps({
        "device": "zoo", "model": {"path": str(wrap(name, tmp_path))},
        "camera": {"source": f"file://{clip.video}", "playback": "every_frame"},
        "pipeline": {"publish": "every"},
        "mqtt": {"host": broker.host, "port": broker.port, "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
                 "homeassistant": {"enabled": True}},
    }))
    recorder = recorder_for(broker, ["edge_sdk/zoo/events", "edge_sdk/zoo/snapshot/mask", "homeassistant/#"])
    done = subprocess.run([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    wanted = {"detect": {"objects", "objects_circle", "objects_square", "objects_triangle"},
              "classify": {"decision"}}.get(TASKS[name], set())

    def _entities(got: list) -> set[str]:  # the last config per topic; empty: deleted
        last = {m.topic: m.payload for m in got if m.topic.startswith("homeassistant/")}
        return {topic.split("/")[-2] for topic, payload in last.items() if payload}

    # the recorder is another client: wait for what it must get, not a count (a loaded machine reorders)
    wants_mask = name == "segmenter"  # the mask goes at the snapshot rate: on a loaded machine after the 10th result
    assert recorder.wait_for(lambda got: sum(m.topic == "edge_sdk/zoo/events" for m in got) >= 10
                             and wanted <= _entities(got)
                             and (not wants_mask or any(m.topic == "edge_sdk/zoo/snapshot/mask" for m in got)), 10), \
        len(recorder.messages)
    payloads = [m.json() for m in recorder.on("edge_sdk/zoo/events")]
    assert len(payloads) == 10
    for payload in payloads:
        result_validator.validate(payload)
        assert payload["schema"] == "edge_sdk.result/2" and payload["task"] == TASKS[name]
    last = {m.topic: m.payload for m in recorder.messages if m.topic.startswith("homeassistant/")}
    entities = {topic.split("/")[-2] for topic, payload in last.items() if payload}  # empty: deleted
    if TASKS[name] == "detect":  # Home Assistant gets what fits the task: counts per label
        assert {"objects", "objects_circle", "objects_square", "objects_triangle"} <= entities
        assert "decision" not in entities
    elif TASKS[name] == "classify":
        assert "decision" in entities
    masks = recorder.on("edge_sdk/zoo/snapshot/mask")
    if name == "segmenter":  # its spec asks for the mask as a PNG: on the snapshot topic's mask subtopic
        assert masks and masks[-1].payload[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not masks


def test_a_stock_model_s_own_metadata_fills_in_what_the_spec_leaves_out(tmp_path: Path) -> None:
    from edge_sdk.bundle import read_bundle
    from edge_sdk.bundle.metadata import read_input_metadata

    (meta,) = read_input_metadata((ZOO / "classifier_with_metadata.tflite").read_bytes())
    assert (meta.mean, meta.std, meta.color_space, meta.size) == ((127.5,), (127.5,), "RGB", (64, 64))
    image = read_bundle(wrap("classifier_with_metadata", tmp_path)).manifest.input("image")
    assert image is not None
    pre = image.preprocess
    assert (pre.width, pre.height, pre.mean, pre.std, pre.color_order) == (  # type: ignore[union-attr]
        64, 64, (127.5,) * 3, (127.5,) * 3, "RGB")
    assert read_input_metadata((ZOO / "segmenter.tflite").read_bytes()) == []
