"""Deterministic stratified train/val/test split of a cleaned manifest."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from converters.errors import SpecError
from converters.manifest import Manifest

__all__ = ["Part", "Split", "split_rows"]

Part = Literal["train", "val", "test"]


@dataclass(frozen=True)
class Split:
    """Source row numbers of each part, sorted ascending."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def part(self, name: Part) -> np.ndarray:
        if name not in ("train", "val", "test"):
            raise SpecError(f"split part must be 'train', 'val' or 'test'. Got: {name!r}")
        rows: np.ndarray = getattr(self, name)
        return rows

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def split_rows(
    manifest: Manifest, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> Split:
    """Split each label's rows by the fractions (rounded half up), the rest to training.

    Each label is shuffled by its own generator, seeded with ``seed`` and the label's CRC-32, so the
    split of one label does not change when rows of another label are added or dropped. A label
    always keeps at least one training row, so val/test never hold a label unseen in training.
    """
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise SpecError(f"{name} must be in [0, 1). Got: {fraction}")
    if val_fraction + test_fraction >= 1.0:
        raise SpecError(
            f"val_fraction + test_fraction must leave rows for training (< 1). "
            f"Got: {val_fraction} + {test_fraction}"
        )
    rows = manifest.rows
    labels = manifest.labels
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in sorted(set(labels)):
        members = np.sort(rows[labels == label])
        rng = np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])
        members = members[rng.permutation(len(members))]
        n_val, n_test = _counts(len(members), val_fraction, test_fraction)
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    joined = {
        k: np.sort(np.concatenate(v)).astype(np.int64) if v else np.zeros(0, np.int64)
        for k, v in parts.items()
    }
    return Split(train=joined["train"], val=joined["val"], test=joined["test"])


def _counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    n_val = math.floor(n * val_fraction + 0.5)
    n_test = math.floor(n * test_fraction + 0.5)
    while n_val + n_test > n - 1 and n_val + n_test > 0:  # keep one training row
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test
