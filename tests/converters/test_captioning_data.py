"""Captioning/translation data: generic manifests, seeded seek writers, the masked split, the group split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from converters.captioning.data import (
    MASK_TOKEN,
    load_caption_manifest,
    load_images,
    load_translation_manifest,
    mask_source,
    split_by_group,
    translation_scenes,
    write_seek_captions,
    write_seek_translations,
)
from converters.errors import DataError, SpecError
from edge_sdk.demo.seek.german import all_commands
from edge_sdk.preprocess import ImageSpec


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_seek_translations(tmp_path_factory.mktemp("plain"), 80, seed=5, image_size=32)


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_seek_translations(tmp_path_factory.mktemp("masked"), 80, seed=5, image_size=32, masked=True)


def test_captions_are_the_worlds_descriptions_seeded(tmp_path: Path) -> None:
    first = write_seek_captions(tmp_path / "a", 20, seed=2, image_size=32)
    again = write_seek_captions(tmp_path / "b", 20, seed=2, image_size=32)
    assert pd.read_csv(first).equals(pd.read_csv(again))
    assert (first.parent / "images/000007.png").read_bytes() == (again.parent / "images/000007.png").read_bytes()
    data = load_caption_manifest(first)
    assert len(data) == 20 and all(Path(p).is_file() for p in data.images)
    assert data.captions[0].startswith("a ") or data.captions[0] == "an empty scene"
    images = load_images(data.images[:3], ImageSpec(width=32, height=32))
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8


def test_translations_pair_every_command_with_its_german_and_show_the_target(plain: Path) -> None:
    frame = pd.read_csv(plain)
    german = {c.english: c.german for c in all_commands()}
    assert all(german[e] == t for e, t in zip(frame["english"], frame["target"], strict=True))
    assert (frame["source"] == frame["english"]).all()
    assert all(s.target() is not None for s in translation_scenes(80, seed=5))


def test_the_masked_split_hides_a_word_only_the_image_can_supply(plain: Path, masked: Path) -> None:
    a, b = pd.read_csv(plain), pd.read_csv(masked)
    assert (a["target"] == b["target"]).all() and (a["english"] == b["english"]).all()  # same scenes
    assert all(s.count(MASK_TOKEN) == 1 for s in b["source"])
    assert set(b["masked"]) <= {"color", "shape"} and len(set(b["masked"])) == 2
    for scene, kind in zip(translation_scenes(80, seed=5), b["masked"], strict=True):
        if kind == "color":  # the only shape of its kind: its colour is in the image
            assert sum(s.shape == scene.target_shape for s in scene.shapes) == 1
        else:
            assert sum(s.color == scene.target_color for s in scene.shapes) == 1
    data = load_translation_manifest(masked)
    assert data.targets == tuple(b["target"]) and "ß" in "".join(
        pd.read_csv(write_seek_translations(masked.parent / "d", 40, seed=1, image_size=32,
                                            detail_share=1.0))["target"])


def test_mask_source() -> None:
    rng = np.random.default_rng(0)
    outs = {mask_source("find the red circle", rng) for _ in range(40)}
    assert outs == {"find the <mask> circle", "find the red <mask>"}
    assert mask_source("find the red circle", rng, kinds=("shape",)) == "find the red <mask>"
    assert mask_source("hello there", rng) == "hello there"
    with pytest.raises(SpecError, match="mask kinds must be among"):
        mask_source("find the red circle", rng, kinds=("size",))


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_other_formats_and_column_names(masked: Path, tmp_path: Path, suffix: str) -> None:
    frame = pd.read_csv(masked).rename(columns={"image": "photo", "source": "en", "target": "de"})
    frame["photo"] = [str(masked.parent / p) for p in frame["photo"]]
    path = tmp_path / f"t{suffix}"
    frame.to_json(path, orient="records", lines=True, force_ascii=False) if suffix == ".jsonl" else frame.to_parquet(path)
    data = load_translation_manifest(path, "photo", "en", "de")
    assert data.targets == load_translation_manifest(masked).targets


def test_bad_manifests_say_what_was_expected(masked: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing column 'de'. Expected columns: image 'image', source 'source', "
                                        r"target 'de'"):
        load_translation_manifest(masked, target_col="de")
    frame = pd.read_csv(masked)
    frame.loc[3, "target"] = "  "
    frame.loc[4, "image"] = "images/nope.png"
    bad = masked.parent / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(DataError, match=r"2 bad cells: row 3, column 'target': target has no words.*row 4, "
                                        r"column 'image': image file not found"):
        load_translation_manifest(bad)
    with pytest.raises(SpecError, match="each role needs its own column"):
        load_caption_manifest(masked, "image", "image")


def test_split_by_group_keeps_an_image_on_one_side() -> None:
    groups = [f"img{i // 3}" for i in range(300)]  # three captions per image
    train, val, test = split_by_group(groups, 0.1, 0.2, seed=1)
    assert len(train) + len(val) + len(test) == 300
    sides = [{groups[i] for i in part} for part in (train, val, test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert len(sides[2]) == 20 and len(sides[1]) == 10
    assert [a.tolist() for a in split_by_group(groups, 0.1, 0.2, seed=1)] == [train.tolist(), val.tolist(), test.tolist()]


def test_caption_references_group_by_image(tmp_path: Path) -> None:
    path = write_seek_captions(tmp_path, 5, seed=0, image_size=32)
    data = load_caption_manifest(path)
    doubled = data.take([0, 1, 0])
    assert doubled.references()[data.images[0]] == [data.captions[0], data.captions[0]]
