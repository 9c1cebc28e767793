"""Own data end to end: scikit-learn's digits and iris, written as a user's PNGs + CSV, trained through
``edge-sdk train --config``, converted to int8 by ``edge-sdk convert`` and run by ``edge_sdk.Model``.

Each dataset is trained once per module (seconds: small models, a few hundred rows); the tests then
read what a user would: the command's JSON line, the bundle, the device's predictions on the rows
the split held out.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

import cv2
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")

from owndata import write_digit_questions, write_digits, write_iris

from edge_sdk import Model
from edge_sdk.bundle import read_bundle
from edge_sdk.cli import main

# Tests train in-process: TensorFlow's op determinism is process-wide, so it stays off here.
TRAINING = "training: {epochs: 25, batch_size: 32, learning_rate: 0.005, patience: 8, seed: 0, deterministic: false}"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def last_json(text: str) -> dict[str, Any]:
    return dict(json.loads([line for line in text.splitlines() if line.startswith("{")][-1]))


def train_and_convert(tmp: Path, config: Path) -> dict[str, Any]:
    code, out, train_err = cli("train", "--config", str(config), "-o", str(tmp / "model"))
    assert code == 0, train_err
    trained = last_json(out)
    code, table, err = cli("convert", str(tmp / "model"), "-o", str(tmp / "bundles"), "--modes", "int8")
    assert code == 0, err
    (bundle,) = (tmp / "bundles").glob("*_int8.tflite")
    return {**trained, "bundle": bundle, "train_stderr": train_err, "table": table, "model_dir": tmp / "model"}


def rows_of(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(newline="") as handle:
        return list(csv.DictReader(handle))


def held_out_rows(model_dir: Path) -> list[int]:
    """The test rows of the split the model was trained with, as ``convert`` re-makes it."""
    from converters.trainconfig import saved_training_config
    from converters.workflow import configured_dataset

    config = saved_training_config(model_dir)
    assert config is not None
    return [int(r) for r in configured_dataset(config, progress=False).split.test]


def device_accuracy(result: dict[str, Any], manifest: Path, predict: Any) -> float:
    rows = rows_of(manifest)
    test = held_out_rows(result["model_dir"])
    with Model.from_bundle(result["bundle"]) as model:
        correct = sum(predict(model, rows[i]) for i in test)
    return correct / len(test)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("digits")
    manifest = write_digits(tmp / "data", limit=600)
    config = tmp / "train.yaml"
    config.write_text("manifest: data/digits.csv\nlabel: digit\ninputs:\n  image: {column: scan, size: [8, 8]}\n"
                      f"model: {{preset: pi-small}}\n{TRAINING}\n")
    return {"manifest": manifest, **train_and_convert(tmp, config)}


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("questions")
    manifest = write_digit_questions(tmp / "data", limit=500)
    config = tmp / "train.yaml"
    config.write_text("manifest: data/questions.csv\nlabel: answer\ninputs:\n"
                      "  image: {column: scan, size: [8, 8]}\n  text: {column: question}\n"
                      f"model: {{preset: pi-small, fusion: concat}}\n{TRAINING}\n")
    return {"manifest": manifest, **train_and_convert(tmp, config)}


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("iris")
    manifest = write_iris(tmp / "data")
    config = tmp / "train.yaml"
    config.write_text(
        "manifest: data/iris.csv\nlabel: species\ninputs:\n  sensors:\n"
        "    - {column: petal_length_cm, unit: cm}\n    - {column: petal_width_cm, unit: cm, normalization: minmax}\n"
        "split: {val: 0.2, test: 0.2}\n"
        "training: {epochs: 80, batch_size: 16, learning_rate: 0.01, patience: 30, seed: 0, deterministic: false}\n"
    )
    return {"manifest": manifest, **train_and_convert(tmp, config)}


def test_image_only_digits_classifier_runs_int8_on_the_device(digits: dict[str, Any]) -> None:
    def predict(model: Any, row: dict[str, str]) -> bool:
        image = cv2.imread(str(digits["manifest"].parent / row["scan"]))
        return bool(model.predict(image=image).label == row["digit"])

    assert digits["test_accuracy"] > 0.85
    assert device_accuracy(digits, digits["manifest"], predict) > 0.85
    bundle = read_bundle(digits["bundle"])
    assert [spec.role for spec in bundle.manifest.primary.inputs] == ["image"]
    assert "vocabulary.txt" not in bundle.assets  # an image-only bundle carries no vocabulary


def test_image_and_question_model_answers_on_the_device(questions: dict[str, Any]) -> None:
    def predict(model: Any, row: dict[str, str]) -> bool:
        image = cv2.imread(str(questions["manifest"].parent / row["scan"]))
        return bool(model.predict(image=image, text=row["question"]).label == row["answer"])

    assert questions["test_accuracy"] > 0.8
    assert device_accuracy(questions, questions["manifest"], predict) > 0.8


def test_two_sensor_model_keeps_channel_names_and_units(iris: dict[str, Any]) -> None:
    def predict(model: Any, row: dict[str, str]) -> bool:
        reading = {"petal_length_cm": float(row["petal_length_cm"]), "petal_width_cm": float(row["petal_width_cm"])}
        return bool(model.predict(sensor=reading).label == row["species"])

    assert device_accuracy(iris, iris["manifest"], predict) > 0.85
    (sensor,) = read_bundle(iris["bundle"]).manifest.primary.inputs
    channels = sensor.preprocess.channels  # type: ignore[union-attr]
    assert [(c.name, c.unit) for c in channels] == [("petal_length_cm", "cm"), ("petal_width_cm", "cm")]
    # minmax: the training range maps to -1..1 (iris petal width spans 0.1 to 2.5 cm)
    assert channels[1].mean == pytest.approx(1.3) and channels[1].std == pytest.approx(1.2)


def test_grouped_split_keeps_every_scan_on_one_side(questions: dict[str, Any]) -> None:
    rows = rows_of(questions["manifest"])
    from converters.trainconfig import saved_training_config
    from converters.workflow import configured_dataset

    config = saved_training_config(questions["model_dir"])
    assert config is not None
    split = configured_dataset(config, progress=False).split
    scans = {part: {rows[int(i)]["scan"] for i in split.part(part)} for part in ("train", "val", "test")}
    assert not scans["train"] & scans["test"] and not scans["train"] & scans["val"] and not scans["val"] & scans["test"]
    assert questions["groups"] == {"train": len(scans["train"]), "val": len(scans["val"]), "test": len(scans["test"])}
    assert questions["split"]["test"] == 2 * questions["groups"]["test"]  # two questions per scan
    assert split.grouped_by == "image"


def test_training_report_says_groups_and_rows_per_side(questions: dict[str, Any]) -> None:
    groups = questions["groups"]
    assert (f"split (grouped by image): train {2 * groups['train']} rows / {groups['train']} groups, "
            f"val {2 * groups['val']} rows / {groups['val']} groups") in questions["train_stderr"]


def test_report_shows_training_data_and_worst_examples(questions: dict[str, Any]) -> None:
    page = (questions["bundle"].parent / "report.html").read_text()
    for heading in ("<h2>Training</h2>", "<h2>Data</h2>", "<h2>Confusion per split (Keras)</h2>",
                    "<h2>Per-class accuracy (Keras)</h2>", "<h2>Worst held-out examples</h2>"):
        assert heading in page
    assert "questions.csv: 1000 rows read, 1000 kept, 0 dropped" in page
    assert 'alt="training curves"' in page and 'alt="confusion per split"' in page
    worst = page.split("<h2>Worst held-out examples</h2>", 1)[1]
    assert worst.count('<img alt="row ') == 12 and "text: does this scan show a" in worst
    parity = json.loads((questions["bundle"].parent / "parity.json").read_text())
    assert set(parity) == {"int8"} and parity["int8"]["samples"] == questions["split"]["test"]
