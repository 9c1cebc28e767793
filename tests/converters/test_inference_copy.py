"""The inference copy's split Dense layers compute what the trained model's concatenation did."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from test_convert_support import IMAGE_SIZE, MAX_LENGTH, seek_data, tiny_model

from edge_sdk.demo.seek import LABELS

pytestmark = pytest.mark.host


def _shapes() -> object:
    from converters.models import ModelShapes

    preprocessing, _, _ = seek_data()
    return ModelShapes(image_size=(IMAGE_SIZE, IMAGE_SIZE), vocab_size=len(preprocessing.text.vocabulary),
                       max_length=MAX_LENGTH, sensor_channels=1, num_classes=len(LABELS))


@pytest.mark.parametrize("fusion", ["attention", "concat"])
def test_split_copy_scores_equal_the_concatenating_copy(fusion: str) -> None:
    from converters.models import inference_copy

    model, split, spec = tiny_model(fusion, "lstm")
    _, _, held_out = seek_data()
    whole = inference_copy(model, spec, _shapes(), split_concat=False)  # type: ignore[arg-type]
    names = [layer.name for layer in split.layers]
    assert "fuse" not in names and "head" not in names and "head_part1" in names
    if fusion == "attention":
        assert "match_seen_part1" in names  # the null token's weight gets a Dense (and an int8 scale) of its own
    for index in range(8):
        sample = {name: values[index : index + 1] for name, values in held_out.tensors.items()}
        np.testing.assert_allclose(np.asarray(split(sample)), np.asarray(whole(sample)), atol=1e-5)


def test_split_copy_refuses_a_model_without_the_layers_it_copies() -> None:
    from converters.models import inference_copy

    _, _, attention_spec = tiny_model("attention", "lstm")
    concat_model, _, _ = tiny_model("concat", "lstm")
    with pytest.raises(ValueError, match="no trained layer for 'attention'"):
        inference_copy(concat_model, attention_spec, _shapes())  # type: ignore[arg-type]
