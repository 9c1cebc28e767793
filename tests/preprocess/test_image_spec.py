"""ImageSpec: new fields with defaults that keep old manifests and their tensors, help on every field, clear errors."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest

from edge_sdk.bundle.io import read_bundle
from edge_sdk.configtools import describe
from edge_sdk.errors import InputError
from edge_sdk.preprocess import ImageSpec, RegionOfInterest, normalize_image, prepare_image
from edge_sdk.runtime import default_bundle_path

# What manifests carried before issue 10 (the shipped bundle's image input, as written)
OLD_MANIFEST = {"kind": "image", "width": 64, "height": 64, "resize": "stretch", "color_order": "RGB",
                "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "letterbox_fill": 0}


def test_a_manifest_without_the_new_keys_reads_with_the_old_behaviour() -> None:
    spec = ImageSpec.from_dict(dict(OLD_MANIFEST))
    assert (spec.interpolation, spec.convention, spec.border) == ("auto", "opencv", "constant")
    assert spec.to_dict() == OLD_MANIFEST  # written back unchanged: older runtimes read it too


def test_the_shipped_bundle_manifest_is_the_old_one() -> None:
    image = read_bundle(default_bundle_path()).manifest.input("image")
    assert image is not None
    spec = image.preprocess
    assert isinstance(spec, ImageSpec)
    assert spec.to_dict() == OLD_MANIFEST


SPECS = [
    ImageSpec(width=64, height=48),
    ImageSpec(width=40, height=32, resize="letterbox", color_order="BGR", mean=(10, 20, 30), std=(2, 4, 8),
              letterbox_fill=114),
    ImageSpec(width=128, height=128, resize="center_crop", interpolation="nearest"),
    ImageSpec(width=128, height=128, resize="stretch", interpolation="area"),
    ImageSpec.mediapipe(128, 128),
    ImageSpec.mediapipe(256, 192, resize="stretch", border="replicate", color_order="BGR"),
    ImageSpec(width=96, height=96, resize="center_crop", convention="mediapipe", interpolation="nearest"),
    ImageSpec(width=96, height=64, resize="letterbox", border="replicate"),
]


@pytest.mark.parametrize("spec", SPECS)
def test_to_dict_from_dict_round_trip_through_json(spec: ImageSpec) -> None:
    data = json.loads(json.dumps(spec.to_dict()))
    again = ImageSpec.from_dict(data)
    assert again == spec
    frame = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    assert np.array_equal(normalize_image(prepare_image(frame, again), again),
                          normalize_image(prepare_image(frame, spec), spec))


def test_new_keys_are_written_only_when_they_change_something() -> None:
    data = ImageSpec.mediapipe(128, 128, border="replicate").to_dict()
    assert {k: data[k] for k in ("interpolation", "convention", "border")} == {
        "interpolation": "linear", "convention": "mediapipe", "border": "replicate"}
    assert "border" not in ImageSpec(width=8, height=8, convention="mediapipe").to_dict()


def test_the_mediapipe_preset_is_minus_one_to_one() -> None:
    spec = ImageSpec.mediapipe(128, 128)
    assert (spec.mean, spec.std, spec.resize, spec.convention) == ((127.5,) * 3, (127.5,) * 3, "letterbox", "mediapipe")
    values = normalize_image(np.array([[[0, 255, 127]]], dtype=np.uint8), spec)
    assert values[0, 0].tolist() == pytest.approx([-1.0, 1.0, -0.5 / 127.5])


def test_every_field_says_what_it_is_for() -> None:
    for cls in (ImageSpec, RegionOfInterest):
        rows = describe(cls)
        assert [name for name, *_ in rows] == [f.name for f in dataclasses.fields(cls)]
        assert all(help_text for *_, help_text in rows), [name for name, _, _, help_text in rows if not help_text]
    defaults = {name: default for name, _, default, _ in describe(ImageSpec)}
    assert (defaults["interpolation"], defaults["convention"], defaults["border"]) == ("'auto'", "'opencv'", "'constant'")


BAD: list[tuple[dict[str, Any], str]] = [
    ({"interpolation": "cubic"}, (r"ImageSpec.interpolation: expected one of 'auto', 'area', 'linear', 'nearest'. "
                                 r"Got: 'cubic'")),
    ({"convention": "tensorflow"}, r"ImageSpec.convention: expected one of 'opencv', 'mediapipe'. Got: 'tensorflow'"),
    ({"resize": "fit"}, r"ImageSpec.resize: expected one of 'stretch', 'letterbox', 'center_crop'. Got: 'fit'"),
    ({"color_order": "rgb"}, r"ImageSpec.color_order: expected one of 'RGB', 'BGR'. Got: 'rgb'"),
    ({"border": "reflect"}, r"ImageSpec.border: expected one of 'constant', 'replicate'. Got: 'reflect'"),
    ({"letterbox_fill": 300}, r"ImageSpec.letterbox_fill: expected a pixel value 0 to 255. Got: 300"),
    ({"width": 0}, r"ImageSpec.width: expected a positive whole number of pixels. Got: 0"),
    ({"height": 12.5}, r"ImageSpec.height: expected a positive whole number of pixels. Got: 12.5"),
    ({"mean": (1.0, 2.0)}, r"ImageSpec.mean: expected 3 numbers, one per channel. Got: \(1.0, 2.0\)"),
    ({"std": (1.0, 0.0, 1.0)}, r"image std must not contain zeros. Got: std=\(1.0, 0.0, 1.0\)"),
    ({"convention": "mediapipe", "interpolation": "area"},
     (r"ImageSpec.interpolation: the mediapipe convention warps.*expected one of 'auto', 'linear', 'nearest' with it. "
     r"Got: 'area'")),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[next(iter(change)) for change, _ in BAD])
def test_bad_values_name_what_was_expected_and_what_came(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ImageSpec(**{"width": 8, "height": 8, **change})
    with pytest.raises(InputError, match=message):  # the same from a manifest
        ImageSpec.from_dict({**OLD_MANIFEST, **change})


def test_unknown_manifest_keys_are_named_with_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown keys \['interp'\]. Expected some of \[.*'interpolation'"):
        ImageSpec.from_dict({**OLD_MANIFEST, "interp": "linear"})


def test_numpy_integers_are_whole_numbers() -> None:
    assert ImageSpec(width=np.int64(8), height=np.int32(4), letterbox_fill=np.uint8(9)).width == 8  # type: ignore[arg-type]
