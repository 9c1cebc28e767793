"""The training config and what it controls, without training: columns, cleaning, text length, image
size, architecture checks, the grouped split and init-train. One test per problem of issue 16."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from converters.errors import DataError, SpecError
from converters.fitting import TextOptions, fit_text
from converters.manifest import ColumnMap, load_manifest
from converters.spec import ModelSpec, check_feature_map, feature_map_size, preset_spec
from converters.split import split_rows
from converters.trainconfig import load_training_config, parse_training_config
from converters.workflow import configured_dataset
from edge_sdk.preprocess import Tokenizer


def write_images(folder: Path, count: int, size: int = 8, first_size: int | None = None) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for index in range(count):
        side = first_size if (index == 0 and first_size) else size
        cv2.imwrite(str(folder / f"{index}.png"), rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
        names.append(f"{folder.name}/{index}.png")
    return names


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def cli(*argv: str) -> tuple[int, str, str]:
    from edge_sdk.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def image_label_csv(tmp_path: Path) -> Path:
    names = write_images(tmp_path / "img", 20)
    return write_csv(tmp_path / "data.csv", ["image", "label"], [[n, "ab"[i % 2]] for i, n in enumerate(names)])


# -- columns: only what the chosen inputs need ---------------------------------------------------
def test_image_label_csv_needs_no_text_or_sensor_column(image_label_csv: Path) -> None:
    manifest = load_manifest(image_label_csv, ColumnMap.for_modalities(("image",)))
    assert list(manifest.frame.columns) == ["image", "label"]


def test_image_only_flags_train_on_an_image_label_csv(image_label_csv: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    code, _out, err = cli("train", "--manifest", str(image_label_csv), "--modalities", "image", "--epochs", "1",
                         "-o", str(tmp_path / "model"), "--image-size", "16x16")
    assert code == 0, err
    from converters.preprocessing import Preprocessing

    preprocessing = Preprocessing.load(tmp_path / "model" / "preprocessing.json")
    assert preprocessing.modalities == ("image",)  # no vocabulary fitted for an input the model lacks


def test_config_names_any_columns(tmp_path: Path) -> None:
    names = write_images(tmp_path / "img", 12)
    rows = [[n, f"reading {i}", 20 + i, 40 - i, "hot" if i % 2 else "cold"] for i, n in enumerate(names)]
    manifest = write_csv(tmp_path / "m.csv", ["photo", "note", "temp_c", "hum_pct", "state"], rows)
    config = parse_training_config({
        "manifest": str(manifest), "label": "state",
        "inputs": {"image": {"column": "photo", "size": [8, 8]}, "text": {"column": "note"},
                   "sensors": [{"column": "temp_c", "unit": "C"}, {"column": "hum_pct", "unit": "%"}]},
    })
    dataset = configured_dataset(config, progress=False)
    sensor = dataset.preprocessing.sensor
    assert sensor is not None and [(c.name, c.unit) for c in sensor.channels] == [("temp_c", "C"), ("hum_pct", "%")]
    assert dataset.tensors("train").inputs["sensor"].shape[1] == 2
    assert set(dataset.tensors("train").inputs) == {"image", "text", "sensor"}


# -- cleaning: the policy the error names can be set ---------------------------------------------
def test_cleaning_policy_from_the_config_drops_missing_images(image_label_csv: Path, tmp_path: Path) -> None:
    (tmp_path / "img" / "3.png").unlink()
    data = {"manifest": str(image_label_csv), "inputs": {"image": {"column": "image", "size": [8, 8]}}}
    with pytest.raises(DataError, match=r"missing_image=drop"):
        configured_dataset(parse_training_config(data), progress=False)
    dataset = configured_dataset(parse_training_config({**data, "cleaning": {"missing_image": "drop"}}), progress=False)
    assert dataset.manifest.report.dropped_rows == (3,) and len(dataset.manifest) == 19


def test_drop_flag_sets_the_cleaning_policy(image_label_csv: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    (tmp_path / "img" / "3.png").unlink()
    base = ("train", "--manifest", str(image_label_csv), "--modalities", "image", "--image-size", "8x8",
            "--preset", "pi-tiny", "-o", str(tmp_path / "m"), "--epochs", "1")
    code, _, err = cli(*base)
    assert code == 2 and "missing_image=drop" in err
    code, _, err = cli(*base, "--drop", "missing_image")
    assert code == 0, err
    assert "data.csv: 20 rows read, 19 kept, 1 dropped" in err


# -- text: length from the data, no silent cap ---------------------------------------------------
def test_ten_word_questions_differing_in_the_last_word_encode_differently() -> None:
    questions = [f"could you please tell me if this scan shows a {w}" for w in ("cat", "dog", "car", "cow")]
    assert len(questions[0].split()) == 11
    tokenizer = Tokenizer(fit_text(questions))
    assert tokenizer.spec.max_length == 11
    assert not np.array_equal(tokenizer.encode(questions[0]), tokenizer.encode(questions[1]))


def test_truncated_texts_are_counted_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    texts = ["one two"] * 99 + ["one two three four five six seven eight nine ten eleven twelve"]
    with caplog.at_level(logging.WARNING):
        spec = fit_text(texts, TextOptions(min_length=1, length_percentile=90))
    assert spec.max_length == 2
    assert "1 of 100 texts (1.0%) have more than max_length=2 words and are truncated (longest: 12)" in caplog.text


def test_vocabulary_size_and_min_count_limit_the_vocabulary() -> None:
    texts = ["a a a b b c"] * 2 + ["d"]
    assert fit_text(texts, TextOptions(min_count=2)).vocabulary == ("<pad>", "<unk>", "a", "b", "c")
    assert fit_text(texts, TextOptions(vocabulary_size=4)).vocabulary == ("<pad>", "<unk>", "a", "b")


# -- image size and architecture -----------------------------------------------------------------
def test_image_size_comes_from_the_config_not_the_first_image(tmp_path: Path) -> None:
    names = write_images(tmp_path / "img", 10, size=32, first_size=8)
    manifest = write_csv(tmp_path / "m.csv", ["image", "label"], [[n, "ab"[i % 2]] for i, n in enumerate(names)])
    config = parse_training_config({"manifest": str(manifest),
                                    "inputs": {"image": {"column": "image", "size": [32, 24], "color_order": "BGR"}}})
    image = configured_dataset(config, progress=False).preprocessing.image
    assert image is not None and (image.width, image.height, image.color_order) == (32, 24, "BGR")


def test_an_8x8_input_does_not_shrink_to_a_1x1_map() -> None:
    with pytest.raises(SpecError, match=r"a 8x8 image with strides \[2, 2, 2, 1\] .* leaves a 1x1 feature map. "
                                        r"Expected at least 2x2"):
        check_feature_map(ModelSpec(), (8, 8))
    spec = preset_spec("pi-small", (8, 8))
    assert feature_map_size(spec, (8, 8)) == (4, 4)
    assert feature_map_size(preset_spec("pi-base", (64, 64)), (64, 64)) == (8, 8)  # the seek CNN, unchanged
    with pytest.raises(SpecError, match="leaves a 1x1 feature map"):
        preset_spec("pi-small", (1, 1))


def test_config_architecture_sets_depth_widths_and_cell() -> None:
    config = parse_training_config({
        "inputs": {"image": {"column": "image", "size": [32, 32]}, "text": {"column": "text"}},
        "model": {"preset": None, "cnn_filters": [8, 16, 32, 64], "cnn_strides": [1, 2, 1, 2], "rnn": "gru",
                  "rnn_units": 24, "fusion": "weighted"},
    })
    spec = config.spec()
    assert (spec.cnn_filters, spec.rnn, spec.rnn_units, spec.fusion) == ((8, 16, 32, 64), "gru", 24, "weighted")


# -- strictness ----------------------------------------------------------------------------------
def test_config_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("label: y\ninputs:\n  image: {column: image, size: [8, 8]}\ntraining:\n  epoch: 3\n")
    with pytest.raises(SpecError, match=r"train.yaml:5: training.epoch: unknown key. Valid keys for training: "):
        load_training_config(path)
    path.write_text("inputs:\n  image: {column: image, size: [8, 8]}\ncleaning:\n  missing_image: skip\n")
    with pytest.raises(SpecError, match=r"train.yaml:4: cleaning.missing_image: expected one of 'drop', 'fail'"):
        load_training_config(path)
    path.write_text("inputs:\n  image: {column: image}\n")
    with pytest.raises(SpecError, match=r"inputs.image.size: missing. Expected model input width and height"):
        load_training_config(path)


def test_train_with_a_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("inputs: {image: {column: image, size: [8, 8]}}\nmodel: {preset: pi-huge}\n")
    code, _, err = cli("train", "--config", str(path), "-o", str(tmp_path / "out"))
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("edge-sdk train: ") and "train.yaml:2: model" in err


# -- split without leakage ------------------------------------------------------------------------
def test_group_column_keeps_each_group_on_one_side_stratified(tmp_path: Path) -> None:
    rows = [[f"recording{g}", float(i), "abc"[g % 3]] for g in range(60) for i in range(5)]
    manifest = load_manifest(write_csv(tmp_path / "m.csv", ["rec", "x", "label"], rows),
                             ColumnMap(image=None, text=None, sensors=("x",), sensor_units=("",), group="rec"))
    split = split_rows(manifest, 0.1, 0.2, seed=3)
    group_of = manifest.frame["group"]
    sides = {part: set(group_of.loc[split.part(part)]) for part in ("train", "val", "test")}
    assert not (sides["train"] & sides["test"]) and not (sides["train"] & sides["val"])
    assert split.group_counts == {"train": 42, "val": 6, "test": 12} and split.grouped_by == "rec"
    labels = manifest.frame["label"]
    assert sorted(labels.loc[split.test].value_counts().tolist()) == [20, 20, 20]  # stratified within groups


def test_repeated_images_group_the_split_by_default(tmp_path: Path) -> None:
    names = write_images(tmp_path / "img", 30)
    rows = [[n, q, "yes" if q.endswith(str(i % 2)) else "no"] for i, n in enumerate(names) for q in ("is 0", "is 1")]
    manifest = load_manifest(write_csv(tmp_path / "m.csv", ["image", "text", "label"], rows),
                             ColumnMap(sensors=(), sensor_units=()))
    split = split_rows(manifest, 0.2, 0.2)
    images = manifest.frame["image"]
    assert not set(images.loc[split.train]) & set(images.loc[split.test])
    assert split.grouped_by == "image" and sum(split.group_counts.values()) == 30
    assert split_rows(manifest, 0.2, 0.2, group="none").grouped_by is None


# -- init-train -----------------------------------------------------------------------------------
def test_init_train_writes_a_config_that_loads(tmp_path: Path) -> None:
    names = write_images(tmp_path / "img", 6, size=12)
    write_csv(tmp_path / "m.csv", ["photo", "question", "range_cm", "recording", "answer"],
              [[n, f"is there a thing number {i}", 10 * i, i // 2, "yes" if i % 2 else "no"] for i, n in enumerate(names)])
    code, _out, err = cli("init-train", str(tmp_path / "m.csv"), "-o", str(tmp_path / "train.yaml"))
    assert code == 0, err
    config = load_training_config(tmp_path / "train.yaml")
    assert config.label == "answer" and config.split.group == "recording"
    assert config.inputs.image is not None and config.inputs.image.size == (12, 12)
    assert config.inputs.text is not None and config.inputs.text.column == "question"
    assert [(s.column, s.unit) for s in config.inputs.sensors] == [("range_cm", "cm")]
    assert config.model.fusion == "attention"
    assert len(configured_dataset(config, progress=False).manifest) == 6
    code, _, err = cli("init-train", str(tmp_path / "m.csv"), "-o", str(tmp_path / "train.yaml"))
    assert code == 2 and "exists" in err


# -- docs -----------------------------------------------------------------------------------------
DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_training_doc_reference_is_up_to_date() -> None:
    from converters.trainconfig import REFERENCE_BEGIN, REFERENCE_END, render_reference

    text = DOC.read_text()
    committed = text[text.index(REFERENCE_BEGIN):text.index(REFERENCE_END) + len(REFERENCE_END)] + "\n"
    assert committed == render_reference(), "regenerate: python -m converters.trainconfig (into docs/training.md)"


def test_the_config_users_copy_from_the_docs_is_valid() -> None:
    import yaml

    text = DOC.read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_training_config(yaml.safe_load(block), block, "docs/training.md")
    spec = config.spec()
    assert spec.modalities == ("image", "text", "sensor") and spec.rnn == "gru" and spec.fusion == "attention"
    assert config.cleaning.missing_image == "drop" and config.split.group == "auto"
