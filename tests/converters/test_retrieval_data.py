"""Pairs from any manifest: other column names, JSONL/Parquet, clear errors, a split by image; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from converters.errors import DataError, SpecError
from converters.manifest import CleaningPolicy
from converters.retrieval.data import fit_pair_preprocessing, load_pairs, pair_tensors, split_pairs
from converters.retrieval.metrics import precision_at_k, recall_at_k
from edge_sdk.demo.seek.dataset import write_caption_dataset


@pytest.fixture(scope="module")
def captions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_caption_dataset(tmp_path_factory.mktemp("captions"), 60, seed=4, image_size=32)


def _renamed(captions: Path, target: Path, suffix: str) -> Path:
    frame = pd.read_csv(captions).rename(columns={"image": "photo", "caption": "description"})
    frame["photo"] = [str(captions.parent / p) for p in frame["photo"]]  # absolute paths work too
    path = target / f"pairs{suffix}"
    if suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_other_formats_and_column_names(captions: Path, tmp_path: Path, suffix: str) -> None:
    pairs = load_pairs(_renamed(captions, tmp_path, suffix), image_column="photo", text_column="description")
    reference = load_pairs(captions, "image", "caption")
    assert pairs.texts == reference.texts and pairs.images == reference.images


def test_missing_column_names_what_is_expected(captions: Path) -> None:
    with pytest.raises(DataError, match=r"missing column 'text'.*Expected an image column 'image' and a text column "
                                        r"'text'. Got: \['image', 'caption', 'kind', 'scene'\]"):
        load_pairs(captions, "image", "text")
    with pytest.raises(SpecError, match="must differ"):
        load_pairs(captions, "caption", "caption")


def test_empty_text_and_missing_image_fail_or_drop(captions: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(captions)
    frame["image"] = [str(captions.parent / p) for p in frame["image"]]
    frame.loc[3, "caption"] = "   "
    frame.loc[5, "caption"] = None
    frame.loc[7, "image"] = str(tmp_path / "nowhere.png")
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(DataError, match=r"3 bad rows \(empty_text, missing_image\): row 3, column 'caption': "
                                        r"text has no words"):
        load_pairs(bad, "image", "caption")
    pairs = load_pairs(bad, "image", "caption", CleaningPolicy.uniform("drop"))
    assert pairs.dropped_rows == (3, 5, 7) and len(pairs) == len(frame) - 3


def test_split_keeps_an_image_on_one_side_and_is_seeded(captions: Path) -> None:
    pairs = load_pairs(captions, "image", "caption")
    split = split_pairs(pairs, 0.2, 0.2, seed=3)
    sides = [{pairs.images[i] for i in part} for part in (split.train, split.val, split.test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert sum(split.sizes().values()) == len(pairs)
    again = split_pairs(pairs, 0.2, 0.2, seed=3)
    assert np.array_equal(again.test, split.test)
    assert not np.array_equal(split_pairs(pairs, 0.2, 0.2, seed=4).test, split.test)


def test_tensors_come_from_the_device_preprocessing(captions: Path) -> None:
    from edge_sdk.preprocess import Tokenizer, prepare_image, read_image

    pairs = load_pairs(captions, "image", "caption")
    split = split_pairs(pairs)
    pre = fit_pair_preprocessing(pairs, split.train)
    data = pair_tensors(pairs, split.test, pre)
    first = int(split.test[0])
    assert np.array_equal(data.images[data.image_ids[0]], prepare_image(read_image(pairs.images[first]), pre.image))
    assert np.array_equal(data.tokens[0], Tokenizer(pre.text).encode(pairs.texts[first]))
    assert len(np.unique(data.image_ids)) == len(data.images)  # each image decoded once


def test_metrics_on_known_vectors() -> None:
    gallery = np.eye(4, dtype=np.float32)
    queries = np.array([[1, 0.1, 0, 0], [0, 0, 0.2, 1]], dtype=np.float32)
    relevant = np.array([[True, False, False, False], [False, False, True, False]])
    assert recall_at_k(queries, gallery, relevant, (1, 2)) == {1: 0.5, 2: 1.0}
    assert precision_at_k(queries, gallery, relevant, 2) == 0.5


def test_cli_bad_column_exits_2_with_one_line(captions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tensorflow")
    from edge_sdk.cli import main

    code = main(["train-retrieval", "--manifest", str(captions), "--text-column", "words", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "missing column 'words'" in err


@pytest.mark.host
def test_cli_trains_from_a_manifest_with_other_names(captions: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tensorflow")
    from edge_sdk.cli import main

    manifest = _renamed(captions, tmp_path, ".jsonl")
    code = main(["train-retrieval", "--manifest", str(manifest), "--image-column", "photo", "--text-column",
                 "description", "--out", str(tmp_path / "out"), "--tiny", "--epochs", "2", "--dim", "64",
                 "--batch-size", "32", "--hard-negatives", "4"])  # epoch 2 draws groups of nearest texts
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(printed["bundles"]) == {"float32"} and printed["embed_dim"] == 64 and printed["epochs_run"] == 2
    assert Path(printed["bundles"]["float32"]).is_file() and (tmp_path / "out" / "keras" / "image_tower.keras").is_file()


def test_hard_negative_batches_group_nearest_texts_of_other_images() -> None:
    from converters.retrieval.data import PairData
    from converters.retrieval.train import hard_negative_batches

    # 64 pairs on 16 directions of a circle (4 texts per direction, on 4 images): a pair's nearest
    # texts of another text and another image are the other three of its direction.
    n, batch_size, group = 64, 16, 4
    angle = np.repeat(np.arange(16), 4) * (2 * np.pi / 16) + np.tile(np.arange(4), 16) * 0.01
    vectors = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    data = PairData(np.zeros((n, 2, 2, 3), np.uint8), np.zeros((n, 3), np.int32), np.arange(n) % 32, np.arange(n))
    for fraction in (0.5, 1.0):
        batches = hard_negative_batches(vectors, data, np.random.default_rng(0), batch_size, group, fraction, pool=64)
        assert len(batches) == n // batch_size and all(len(b) == batch_size for b in batches)
        flat = np.concatenate(batches)
        assert len(set(flat.tolist())) == len(flat)  # no pair twice in an epoch
    # all grouped: each group is one direction's four pairs (the nearest), on four images
    for batch in batches:
        for start in range(0, batch_size, group):
            members = batch[start:start + group]
            assert len(set((members // 4).tolist())) == 1, members
            assert len(set(data.image_ids[members].tolist())) == group
    with pytest.raises(SpecError, match="hard_negative_group"):
        from converters.retrieval.train import RetrievalTrainConfig

        RetrievalTrainConfig(batch_size=8, hard_negative_group=9)
