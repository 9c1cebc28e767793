"""TaskSpec: validation at construction, the manifest round trip, the lazy package."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from edge_sdk.errors import BundleError
from edge_sdk.tasks import KINDS, TaskSpec, make_decoder

from .test_anchors import BLAZEFACE

SPECS = [
    TaskSpec("classify", {"scores": "probs"}, ("a", "b"), {"activation": "softmax", "top_k": 1}),
    TaskSpec("detect", {"boxes": "regressors", "scores": "classificators"}, ("face",),
             {"anchors": BLAZEFACE,
              "x_scale": 128.0, "y_scale": 128.0, "w_scale": 128.0, "h_scale": 128.0, "sigmoid_score": True}),
    TaskSpec("detect", {"boxes": "b", "classes": "c", "scores": "s", "count": "n"}, ("???", "person"),
             {"label_offset": 1}),
    TaskSpec("segment", {"mask": "m"}, params={"threshold": 0.3}),
    TaskSpec("embed", {"embedding": "e"}),
    TaskSpec("landmarks", {"landmarks": "l"}, params={"input_width": 256, "input_height": 256}),
    TaskSpec("regress", {"distance_m": "d"}),
    TaskSpec("raw", {}, params={"max_elements": 10}),
    TaskSpec("generate", {"log_probs": "log_probs"}, ("<pad>", "<start>", "<end>", "red"),
             {"start_id": 1, "end_id": 2, "state": {"state_h": "next_h"}, "initial_state": {"init_h": "state_h"}}),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_to_dict_is_json_and_from_dict_round_trips(spec: TaskSpec) -> None:
    data = json.loads(json.dumps(spec.to_dict(), allow_nan=False))
    again = TaskSpec.from_dict(data)
    assert again == spec and again.to_dict() == spec.to_dict()
    assert type(again.options) is type(spec.options) and again.options == spec.options
    make_decoder(again)


def test_every_kind_has_a_spec_here() -> None:
    assert {spec.kind for spec in SPECS} == set(KINDS)


def test_params_are_copied_so_the_spec_cannot_change_under_a_decoder() -> None:
    params: dict[str, Any] = {"top_k": 2}
    spec = TaskSpec("classify", {"scores": "p"}, params=params)
    params["top_k"] = 99
    assert spec.params["top_k"] == 2 and spec.options.top_k == 2
    with pytest.raises(TypeError):
        spec.params["top_k"] = 3


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "caption", "outputs": {}},
     r"task kind: expected one of classify, detect, segment, embed, landmarks, regress, raw, generate. Got: 'caption'"),
    ({"kind": "raw"}, r"task.outputs: missing"),
    ({"kind": "raw", "outputs": {}, "param": {}}, r"task.param: unknown key. Valid keys: kind, labels, outputs, params"),
    ({"kind": "raw", "outputs": {"x": 3}}, r"outputs: expected a mapping of role to output tensor name"),
    ({"kind": "raw", "outputs": {}, "labels": "ab"}, r"task.labels: expected a list of strings"),
    ({"kind": "raw", "outputs": {}, "params": {"max_elements": float("nan")}}, r"params: must be plain JSON"),
    ({"kind": "raw", "outputs": {}, "params": [1]}, r"params: expected a mapping of options. Got: list"),
    ({"kind": "embed", "outputs": {"embedding": "e"}, "params": {"normalize": True}},
     r"params.normalize: unknown option. Valid options: none \(this task takes no options\)"),
    ({"kind": "classify", "outputs": {"scores": "p"}, "params": {"threshold": True}},
     r"params.threshold: expected a number. Got: True \(bool\)"),
])
def test_bad_specs_are_bundle_errors_naming_expected_and_got(data: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        TaskSpec.from_dict(data)


def test_importing_the_package_loads_no_task_module_nor_numpy() -> None:
    code = ("import sys, edge_sdk.tasks as t; assert 'numpy' not in sys.modules, 'numpy'; "
            "assert not [m for m in sys.modules if m.startswith('edge_sdk.tasks.')]; t.TaskSpec; "
            "assert 'cv2' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
