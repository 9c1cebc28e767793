"""The stratified split: deterministic, a partition, proportional per label, stable across labels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from converters.errors import SpecError
from converters.manifest import Manifest, load_manifest
from converters.split import Split, split_rows
from edge_sdk.demo.seek import LABELS


@pytest.fixture(scope="module")
def manifest(seek_manifest: Path) -> Manifest:
    return load_manifest(seek_manifest, labels=LABELS)


def _same(a: Split, b: Split) -> bool:
    return all(np.array_equal(getattr(a, p), getattr(b, p)) for p in ("train", "val", "test"))


def test_split_is_deterministic_for_a_seed(manifest: Manifest) -> None:
    first, again = split_rows(manifest, seed=3), split_rows(manifest, seed=3)
    assert _same(first, again)
    assert not _same(first, split_rows(manifest, seed=4))


def test_split_is_a_sorted_partition_of_the_rows(manifest: Manifest) -> None:
    split = split_rows(manifest, val_fraction=0.15, test_fraction=0.2, seed=0)
    joined = np.concatenate([split.train, split.val, split.test])
    assert sorted(joined.tolist()) == list(range(300))  # disjoint and complete
    for part in (split.train, split.val, split.test):
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)


def test_split_is_stratified_by_label(manifest: Manifest) -> None:
    split = split_rows(manifest, val_fraction=0.1, test_fraction=0.2, seed=0)
    per_label = Counter(manifest.labels)
    label_of = dict(zip(manifest.rows.tolist(), manifest.labels, strict=True))
    for part, fraction in ((split.val, 0.1), (split.test, 0.2)):
        counts = Counter(label_of[r] for r in part.tolist())
        for label, total in per_label.items():
            assert counts[label] == int(np.floor(total * fraction + 0.5)), (label, total, counts)


def test_split_of_a_label_ignores_rows_of_other_labels(manifest: Manifest) -> None:
    """Each label has its own generator: dropping every 'absent' row leaves 'left' split the same."""
    full = split_rows(manifest, seed=7)
    fewer = type(manifest)(
        manifest.source, manifest.columns, manifest.frame[manifest.labels != "absent"], manifest.report
    )
    partial = split_rows(fewer, seed=7)
    left = set(manifest.rows[manifest.labels == "left"].tolist())
    for part in ("train", "val", "test"):
        assert left & set(getattr(full, part).tolist()) == left & set(getattr(partial, part).tolist())


def test_rare_label_keeps_a_training_row(small_seek: Path) -> None:
    table = pd.read_csv(small_seek)
    table.loc[0, "label"] = "unique"
    table.loc[[1, 2], "label"] = "pair"
    table.to_csv(small_seek, index=False)
    split = split_rows(load_manifest(small_seek), val_fraction=0.4, test_fraction=0.4)
    assert 0 in split.train
    assert 1 in split.train or 2 in split.train


def test_part_names_and_sizes(manifest: Manifest) -> None:
    split = split_rows(manifest)
    assert split.sizes() == {"train": 240, "val": 30, "test": 30}
    assert split.part("val") is split.val
    with pytest.raises(SpecError, match=r"split part must be 'train', 'val' or 'test'\. Got: 'dev'"):
        split.part("dev")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("val", "test", "wording"),
    [
        (-0.1, 0.1, r"val_fraction must be in \[0, 1\)\. Got: -0\.1"),
        (0.1, 1.0, r"test_fraction must be in \[0, 1\)\. Got: 1\.0"),
        (0.5, 0.5, r"must leave rows for training \(< 1\)\. Got: 0\.5 \+ 0\.5"),
    ],
)
def test_bad_fractions_are_refused(manifest: Manifest, val: float, test: float, wording: str) -> None:
    with pytest.raises(SpecError, match=wording):
        split_rows(manifest, val_fraction=val, test_fraction=test)
