"""Training: seeded, learns, early-stops, round-trips through save/load, and flips swap labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from converters.dataset import prepare_dataset
from converters.errors import SpecError
from converters.spec import ModelSpec
from converters.train import TrainConfig, TrainedModel, _swap_table, predict
from converters.workflow import SEEK_TRAIN_CONFIG, split_tensors, train_on_dataset
from edge_sdk.demo.seek import LABELS, write_dataset

pytestmark = pytest.mark.host

SMALL = ModelSpec(cnn_stem_filters=8, cnn_filters=(8, 16), cnn_strides=(2, 1), rnn_units=16, embedding_dim=8,
                  fusion_dim=16, head_units=16, sensor_units=8)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    manifest = write_dataset(tmp_path_factory.mktemp("train"), 600, seed=5)
    dataset = prepare_dataset(manifest, labels=LABELS, seed=5, max_text_length=8)
    return dataset, split_tensors(dataset, progress=False)


@pytest.fixture(scope="module")
def trained(data):  # type: ignore[no-untyped-def]
    dataset, tensors = data
    config = dataclasses.replace(SEEK_TRAIN_CONFIG, epochs=6, batch_size=32, learning_rate=5e-3, seed=1)
    return train_on_dataset(dataset, SMALL, config, name="small", progress=False, tensors=tensors)


def test_training_learns_more_than_chance(trained) -> None:  # type: ignore[no-untyped-def]
    # chance is 0.2; "blocked" alone (distance under 20 cm) is a fifth of the data and easy
    assert trained.best_val_accuracy > 0.3
    assert trained.history[0]["loss"] > trained.history[-1]["loss"]
    assert 1 <= trained.best_epoch <= len(trained.history)


def test_saved_model_predicts_the_same(trained, data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, tensors = data
    loaded = TrainedModel.load(trained.save(tmp_path / "model"))
    assert loaded.spec == trained.spec and loaded.shapes == trained.shapes
    assert loaded.preprocessing == trained.preprocessing
    np.testing.assert_allclose(predict(loaded, tensors["test"].inputs), predict(trained, tensors["test"].inputs),
                               atol=1e-6)


def test_early_stopping_ends_before_the_epoch_budget(data) -> None:  # type: ignore[no-untyped-def]
    dataset, tensors = data
    config = dataclasses.replace(SEEK_TRAIN_CONFIG, epochs=50, patience=1, learning_rate=1e-9, seed=1)
    stopped = train_on_dataset(dataset, SMALL, config, name="stuck", progress=False, tensors=tensors)
    assert len(stopped.history) < 50


def test_flip_swaps_left_and_right_only() -> None:
    assert _swap_table(LABELS, (("left", "right"),)) == [2, 1, 0, 3, 4]
    assert _swap_table(LABELS, ()) is None
    with pytest.raises(SpecError, match=r"hflip_swap names labels the data lacks.*Got: \('left', 'up'\)"):
        _swap_table(LABELS, (("left", "up"),))


def test_bad_specs_say_what_is_expected() -> None:
    with pytest.raises(SpecError, match=r"modalities must be a non-empty subset of \('image', 'text', 'sensor'\)"):
        ModelSpec(modalities=("audio",))
    with pytest.raises(SpecError, match="attention fusion needs the image and text modalities"):
        ModelSpec(fusion="attention", modalities=("image", "sensor"))
    with pytest.raises(SpecError, match="epochs and batch_size must be >= 1"):
        TrainConfig(epochs=0)


def test_seek_config_trains_the_same_weights_twice(data) -> None:  # type: ignore[no-untyped-def]
    dataset, tensors = data
    config = dataclasses.replace(SEEK_TRAIN_CONFIG, epochs=2, seed=3)
    assert config.deterministic and config.threads  # what makes a seeded run repeatable (issue 16)
    first, second = (train_on_dataset(dataset, SMALL, config, name="again", progress=False, tensors=tensors)
                     for _ in range(2))
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_thread_count_tensorflow_already_fixed_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    import tensorflow as tf

    from converters.train import _set_threads

    float(tf.reduce_sum(tf.ones(3)))  # runs an op: the thread count is now fixed for the process
    other = tf.config.threading.get_intra_op_parallelism_threads() + 3
    with caplog.at_level("WARNING", logger="converters.train"):
        _set_threads(tf, other)
    assert f"not the config's {other}" in caplog.text
