"""Every kind's result validates against result-2.json in a full envelope; the schema is keyed on task."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np
import pytest

from edge_sdk.errors import InputError
from edge_sdk.tasks import Classification, Detection, Detections, TaskResult, TaskSpec, make_decoder
from edge_sdk.tasks.base import KINDS
from edge_sdk.tasks.embed import Embedding
from edge_sdk.tasks.landmarks import Landmarks

from .conftest import envelope
from .test_detect import GRID, SCALES, postprocess_outputs

RNG = np.random.default_rng(7)


def _results() -> list[TaskResult]:
    detect = TaskSpec("detect", {"boxes": "b", "scores": "s"}, ("face",),
                      {"anchors": GRID, **SCALES, "sigmoid_score": True, "score_threshold": 0.0})
    cases: list[tuple[TaskSpec, dict[str, np.ndarray]]] = [
        (TaskSpec("classify", {"scores": "p"}, ("a", "b", "c"), {"activation": "softmax", "threshold": 0.9}),
         {"p": RNG.normal(size=(1, 3)).astype(np.float32)}),
        (TaskSpec("classify", {"scores": "p"}, ("a", "b")), {"p": np.array([[0.1, 0.9]], np.float32)}),
        (detect, {"b": RNG.normal(size=(1, 4, 8)).astype(np.float32), "s": RNG.normal(size=(1, 4, 1)).astype(np.float32)}),
        (TaskSpec("detect", {"boxes": "detection_boxes", "classes": "detection_classes", "scores": "detection_scores",
                             "count": "num_detections"}), postprocess_outputs(3.0)),
        (TaskSpec("segment", {"mask": "m"}), {"m": RNG.random((1, 6, 6, 4)).astype(np.float32)}),
        (TaskSpec("embed", {"embedding": "e"}), {"e": RNG.normal(size=(1, 16)).astype(np.float32)}),
        (TaskSpec("landmarks", {"landmarks": "l"}, params={"input_width": 192, "input_height": 192}),
         {"l": RNG.random((1, 21, 3)).astype(np.float32) * 192}),
        (TaskSpec("landmarks", {"landmarks": "l"}, ("a", "b"), {"input_width": 1, "input_height": 1,
                                                                "values_per_point": 2}),
         {"l": RNG.random((1, 4)).astype(np.float32)}),
        (TaskSpec("regress", {"v": "v"}), {"v": np.array([[1.0, 2.0]], np.float32)}),
        (TaskSpec("raw", {}, params={"max_elements": 4}),
         {"x": np.array([1.0, np.nan], np.float32), "y": np.zeros((2, 3), np.int8), "z": np.full(5, np.inf)}),
    ]
    return [make_decoder(spec).decode(outputs) for spec, outputs in cases]


RESULTS = _results()


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: r.kind)
def test_each_result_validates_in_a_v2_envelope(result: TaskResult, result2_validator: Any) -> None:
    payload = envelope(result)
    result2_validator.validate(payload)
    assert payload["task"] == result.kind and payload["result"] == result.to_json()


def test_the_schema_checks_result_against_task(result2_validator: Any) -> None:
    classification, detections = RESULTS[0], RESULTS[3]
    assert isinstance(detections, Detections) and detections.detections
    wrong = envelope(classification)
    wrong["result"] = detections.to_json()
    assert not result2_validator.is_valid(wrong)
    for broken in ({"label": None}, {"box": [0.1, 0.2, 1.5, 0.3]}):
        payload = envelope(detections)
        payload["result"]["detections"][0].update(broken)
        assert not result2_validator.is_valid(payload), broken
    old = envelope(classification)
    old["label"] = "a"  # a v1 field
    assert not result2_validator.is_valid(old)
    unknown = envelope(classification)
    unknown["task"] = "caption"
    assert not result2_validator.is_valid(unknown)


def test_the_v2_envelope_is_v1_without_classification_fields_plus_task_and_result() -> None:
    def load(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(resources.files("edge_sdk").joinpath("schemas", name).read_text())
        return loaded

    v1, v2 = load("result-1.json"), load("result-2.json")
    assert set(v2["properties"]) == set(v1["properties"]) - {"label", "confidence", "scores"} | {"task", "result"}
    assert set(v2["required"]) == set(v1["required"]) - {"label", "confidence", "scores"} | {"task", "result"}
    for key in ("device", "seq", "boot", "ts", "inputs", "model", "timing_ms", "replayed"):
        assert v2["properties"][key] == v1["properties"][key], key
    assert v2["properties"]["task"]["enum"] == list(KINDS)  # every task kind the runtime can publish


@pytest.mark.parametrize("result", [
    Classification(label="a", confidence=float("nan"), scores={"a": 0.5}, top_k=()),
    Classification(label=None, confidence=None, scores={"a": float("inf")}, top_k=()),
    Detections((Detection(box=(0.0, 0.0, float("nan"), 1.0), label="x", class_id=0, score=0.5),)),
    Embedding(vector=np.array([np.nan], np.float32), norm=1.0),
    Landmarks(points=np.array([[0.5, np.inf]])),
], ids=lambda r: r.kind)
def test_typed_results_refuse_non_finite_values_in_json(result: TaskResult) -> None:
    with pytest.raises(InputError, match=r"NaN or infinit"):
        result.to_json()
