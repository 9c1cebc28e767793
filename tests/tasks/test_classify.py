"""Classification: probabilities or logits, top-k, the threshold, label count checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks import Classification, TaskSpec, make_decoder

LABELS = ("left", "center", "right", "absent")


def decode(values: np.ndarray, labels: tuple[str, ...] = LABELS, **params: object) -> Classification:
    result = make_decoder(TaskSpec("classify", {"scores": "probs"}, labels, params)).decode({"probs": values})
    assert isinstance(result, Classification)
    return result


def test_softmax_of_logits_by_hand() -> None:
    logits = np.array([[2.0, 1.0, 0.0, 1000.0 - 1000.0]], dtype=np.float32)
    result = decode(logits, activation="softmax", top_k=2)
    total = math.exp(2) + math.exp(1) + 2
    assert result.scores == pytest.approx({"left": math.exp(2) / total, "center": math.exp(1) / total,
                                           "right": 1 / total, "absent": 1 / total})
    assert result.label == "left" and result.confidence == pytest.approx(math.exp(2) / total)
    assert [name for name, _ in result.top_k] == ["left", "center"]
    huge = decode(np.array([1000.0, 999.0, -1000.0, 0.0], dtype=np.float32), activation="softmax")
    assert huge.scores["left"] == pytest.approx(1 / (1 + math.exp(-1)))  # shifted: no overflow to NaN


def test_probabilities_pass_through_and_top_k_orders_ties_by_index() -> None:
    result = decode(np.array([[0.1, 0.4, 0.4, 0.1]], dtype=np.float32), top_k=3)
    assert [name for name, _ in result.top_k] == ["center", "right", "left"]
    assert sum(result.scores.values()) == pytest.approx(1.0)


def test_threshold_filters_label_and_top_k_but_not_scores() -> None:
    probs = np.array([0.3, 0.25, 0.25, 0.2], dtype=np.float32)
    below = decode(probs, threshold=0.5)
    assert (below.label, below.confidence, below.top_k) == (None, None, ())
    assert below.scores["left"] == pytest.approx(0.3)
    some = decode(probs, threshold=0.25, top_k=4)
    assert [name for name, _ in some.top_k] == ["left", "center", "right"]


def test_sigmoid_for_independent_labels_and_top_k_scores_only() -> None:
    result = decode(np.array([0.0, 2.0, -2.0, 0.0], dtype=np.float32), activation="sigmoid", top_k=2, scores="top_k")
    assert result.scores == pytest.approx({"center": 1 / (1 + math.exp(-2)), "left": 0.5})


def test_unlabelled_classes_are_numbered() -> None:
    result = decode(np.array([[0.2, 0.8]], dtype=np.float32), labels=())
    assert result.label == "1" and set(result.scores) == {"0", "1"}


def test_classify_errors() -> None:
    with pytest.raises(InputError, match=r"has 3 classes but the spec has 4 labels"):
        decode(np.array([0.2, 0.3, 0.5], dtype=np.float32))
    with pytest.raises(InputError, match=r"ranges -1 to 3, not probabilities; set params.activation to softmax"):
        decode(np.array([-1.0, 3.0, 0.0, 0.0], dtype=np.float32))
    with pytest.raises(InputError, match=r"should be one vector, shape \[1, N\] or \[N\]. Got shape \[2, 4\]"):
        decode(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(BundleError, match=r"task 'classify' params.top_k: expected at least 1. Got: 0"):
        TaskSpec("classify", {"scores": "p"}, params={"top_k": 0})
    with pytest.raises(BundleError, match=r"params.top_k: expected a whole number. Got: '3' \(str\)"):
        TaskSpec("classify", {"scores": "p"}, params={"top_k": "3"})
    with pytest.raises(BundleError, match=r"params.activation: expected one of 'none', 'softmax', 'sigmoid'"):
        TaskSpec("classify", {"scores": "p"}, params={"activation": "relu"})
    with pytest.raises(BundleError, match=r"params.topk: unknown option. Valid options: activation, scores, "
                                          r"threshold, top_k"):
        TaskSpec("classify", {"scores": "p"}, params={"topk": 3})
    with pytest.raises(BundleError, match=r"expected the one role 'scores'. Got: logits"):
        TaskSpec("classify", {"logits": "p"})
    with pytest.raises(BundleError, match=r"each label must be unique"):
        TaskSpec("classify", {"scores": "p"}, ("a", "a"))


@pytest.mark.parametrize("activation", ["none", "softmax", "sigmoid"])
def test_the_plain_python_path_for_few_classes_gives_the_numpy_path_s_result(
        activation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_sdk.tasks import classify
    from edge_sdk.tasks.base import TaskSpec, make_decoder

    rng = np.random.default_rng(3)
    labels = tuple(f"c{i}" for i in range(12))
    raw = rng.uniform(0, 1, 12) if activation == "none" else rng.normal(0, 3, 12)
    raw[4] = raw[7]  # a tie: both paths keep the lower index first
    spec = TaskSpec("classify", {"scores": "s"}, labels, {"activation": activation, "top_k": 4, "threshold": 0.01})
    small = make_decoder(spec).decode({"s": raw[None].astype(np.float32)})
    monkeypatch.setattr(classify, "_SMALL", 0)
    large = make_decoder(spec).decode({"s": raw[None].astype(np.float32)})
    assert small.label == large.label and [n for n, _ in small.top_k] == [n for n, _ in large.top_k]
    assert small.scores == pytest.approx(large.scores, abs=1e-12)
    assert small.confidence == pytest.approx(large.confidence, abs=1e-12)


def test_the_json_is_compact_top_k_only_when_it_says_more_than_scores() -> None:
    from edge_sdk.tasks.base import TaskSpec, make_decoder

    scores = np.array([[0.123456789, 0.876543211]], np.float32)
    every = make_decoder(TaskSpec("classify", {"scores": "s"}, ("a", "b"))).decode({"s": scores}).to_json()
    assert "top_k" not in every and every["scores"] == {"a": 0.12346, "b": 0.87654} and every["confidence"] == 0.87654
    cut = make_decoder(TaskSpec("classify", {"scores": "s"}, ("a", "b"), {"top_k": 1})).decode({"s": scores}).to_json()
    assert cut["top_k"] == [{"label": "b", "score": 0.87654}]
