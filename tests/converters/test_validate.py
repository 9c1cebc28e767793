"""Parity of converted tiny models with Keras, measured the way the device runs them."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from test_convert_support import converted, seek_data, tiny_model

from converters.convert import MODES
from converters.errors import ParityError
from converters.validate import ParityReport, TFLiteRunner, quantize, validate

pytestmark = [pytest.mark.host, pytest.mark.slow]


@pytest.fixture(scope="module")
def reports() -> dict[str, ParityReport]:
    preprocessing, _, held_out = seek_data()
    model, _, _ = tiny_model("attention", "lstm")
    keras_scores = model.predict(held_out.tensors, verbose=0)
    results = converted("attention", "lstm", MODES)
    return {
        mode: validate(result, model, held_out.tensors, held_out.labels, preprocessing.labels, keras_scores=keras_scores)
        for mode, result in results.items()
    }


def test_float32_model_matches_keras(reports: dict[str, ParityReport]) -> None:
    report = reports["float32"]
    assert report.top1_agreement == 1.0
    assert report.max_abs_score_error < 1e-4
    assert report.tflite_accuracy == report.keras_accuracy
    report.check(min_agreement=1.0, max_accuracy_drop=0.0)


@pytest.mark.parametrize("mode", ["float16", "dynamic", "int8", "int8_io_int8", "int8_io_uint8"])
def test_reduced_precision_models_stay_close_to_keras(reports: dict[str, ParityReport], mode: str) -> None:
    report = reports[mode]
    assert report.samples == 160
    assert report.top1_agreement >= 0.9, report
    assert report.max_abs_score_error < 0.15, report
    assert report.mean_abs_score_error < 0.02, report
    assert abs(report.tflite_accuracy - report.keras_accuracy) <= 0.06


def test_report_has_latency_confusion_and_op_set(reports: dict[str, ParityReport]) -> None:
    report = reports["int8_io_uint8"]
    assert set(report.latency_ms) == {"1", "2"} and all(v > 0 for v in report.latency_ms.values())
    assert np.asarray(report.confusion_tflite).sum() == report.samples
    assert np.asarray(report.confusion_keras).shape == (5, 5)
    assert report.builtin_only and not {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} & set(report.float_ops)
    assert report.op_counts["FULLY_CONNECTED"] > 0
    assert report.size_bytes == converted("attention", "lstm", MODES)["int8_io_uint8"].size_bytes


def test_report_round_trips_through_json(reports: dict[str, ParityReport]) -> None:
    report = reports["int8"]
    assert ParityReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_check_raises_parity_error_naming_the_gap(reports: dict[str, ParityReport]) -> None:
    bad = dataclasses.replace(reports["int8"], top1_agreement=0.5, tflite_accuracy=reports["int8"].keras_accuracy - 0.2)
    with pytest.raises(ParityError, match=r"the int8 model disagrees with Keras on 160 samples: top-1 agreement 0.5000 < 0.99; accuracy drop 0.2"):
        bad.check()


def test_runner_binds_inputs_by_name_not_order() -> None:
    _, _, held_out = seek_data()
    result = converted("attention", "lstm", MODES)["int8_io_uint8"]
    runner = TFLiteRunner(result.tflite)
    sample = {name: values[:3] for name, values in held_out.tensors.items()}
    reordered = dict(reversed(list(sample.items())))
    np.testing.assert_array_equal(runner.run(sample), runner.run(reordered))


def test_uint8_image_quantization_keeps_camera_bytes() -> None:
    _, _, held_out = seek_data()
    result = converted("attention", "lstm", MODES)["int8_io_uint8"]
    detail = TFLiteRunner(result.tflite).input_details["image"]
    pixels = held_out.tensors["image"][:2]
    np.testing.assert_array_equal(quantize(pixels, detail), pixels.astype(np.uint8))
