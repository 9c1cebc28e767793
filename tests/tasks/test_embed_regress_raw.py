"""Embeddings, regression and raw outputs."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks import Embedding, RawOutputs, Regression, TaskSpec, make_decoder


def test_embedding_is_unit_norm_and_a_zero_vector_is_an_error() -> None:
    decoder = make_decoder(TaskSpec("embed", {"embedding": "emb"}))
    result = decoder.decode({"emb": np.array([[3.0, 4.0, 0.0]], dtype=np.float32)})
    assert isinstance(result, Embedding)
    np.testing.assert_allclose(result.vector, [0.6, 0.8, 0.0], rtol=1e-6)
    assert result.norm == pytest.approx(5.0) and result.dim == 3
    rng = np.random.default_rng(1)
    assert np.linalg.norm(decoder.decode({"emb": rng.normal(size=(1, 512)).astype(np.float32)}).vector) \
        == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(InputError, match=r"output 'emb' is all zeros; an L2-normalised embedding needs a non-zero"):
        decoder.decode({"emb": np.zeros((1, 8), dtype=np.float32)})
    with pytest.raises(InputError, match=r"not finite"):
        decoder.decode({"emb": np.array([1.0, np.nan], dtype=np.float32)})
    with pytest.raises(BundleError, match=r"an embedding has no labels"):
        TaskSpec("embed", {"embedding": "e"}, ("a",))


def test_regression_names_values() -> None:
    spec = TaskSpec("regress", {"distance_m": "Identity", "pose": "Identity_1"})
    result = make_decoder(spec).decode({"Identity": np.array([[1.5]], np.float32),
                                        "Identity_1": np.array([[0.25, -2.0]], np.float32)})
    assert isinstance(result, Regression)
    assert result.values == {"distance_m": 1.5, "pose_0": 0.25, "pose_1": -2.0}
    named = make_decoder(TaskSpec("regress", {"out": "y"}, ("age", "height_cm")))
    assert named.decode({"y": np.array([[31.0, 180.0]], np.float32)}).values == {"age": 31.0, "height_cm": 180.0}
    with pytest.raises(InputError, match=r"has 1 values but the spec has 2 labels"):
        named.decode({"y": np.array([1.0], np.float32)})
    with pytest.raises(BundleError, match=r"name the elements of one output; this spec has 2 roles"):
        TaskSpec("regress", {"a": "x", "b": "y"}, ("age",))


def test_raw_passes_small_tensors_and_summarises_large_ones() -> None:
    decoder = make_decoder(TaskSpec("raw", {"logits": "out0", "features": "out1"}, params={"max_elements": 6}))
    outputs = {"out0": np.array([[1.0, np.inf, 3.0]], np.float32), "out1": np.arange(12, dtype=np.float32).reshape(3, 4),
               "ignored": np.zeros(2)}
    result = decoder.decode(outputs)
    assert isinstance(result, RawOutputs) and set(result.tensors) == {"logits", "features"}
    assert result.to_json()["tensors"]["logits"] == {"shape": [1, 3], "dtype": "float32", "summarised": False,
                                                     "nonfinite": 1, "data": [[1.0, None, 3.0]]}
    assert result.to_json()["tensors"]["features"] == {"shape": [3, 4], "dtype": "float32", "summarised": True,
                                                       "nonfinite": 0, "elements": 12, "min": 0.0, "max": 11.0,
                                                       "mean": 5.5}
    everything = make_decoder(TaskSpec("raw", {})).decode(outputs)
    assert set(everything.tensors) == {"out0", "out1", "ignored"}
    nan_only = make_decoder(TaskSpec("raw", {}, params={"max_elements": 0})).decode({"x": np.full(3, np.nan)})
    assert nan_only.to_json()["tensors"]["x"]["min"] is None and nan_only.tensors["x"].nonfinite == 3
    with pytest.raises(BundleError, match=r"params.max_elements: expected 0 or more. Got: -1"):
        TaskSpec("raw", {}, params={"max_elements": -1})
