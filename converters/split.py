"""Deterministic stratified train/val/test split of a cleaned manifest, optionally by group.

Rows that share a group (the same scan asked different questions, one recording cut into clips)
must land on one side: otherwise the test split holds near-copies of training rows and its
accuracy is optimistic. ``group="auto"`` groups by image path when an image appears in several rows.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from dataclasses import dataclass, field
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
    grouped_by: str | None = None  # the column (or "image") rows were grouped by; None: every row alone
    group_counts: dict[str, int] = field(default_factory=dict)  # groups per part, when grouped

    def part(self, name: Part) -> np.ndarray:
        if name not in ("train", "val", "test"):
            raise SpecError(f"split part must be 'train', 'val' or 'test'. Got: {name!r}")
        rows: np.ndarray = getattr(self, name)
        return rows

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def summary(self) -> str:
        """``train 1437 rows / 180 groups, ...`` for the training report."""
        parts = []
        for name, rows in self.sizes().items():
            groups = f" / {self.group_counts[name]} groups" if name in self.group_counts else ""
            parts.append(f"{name} {rows} rows{groups}")
        how = f"grouped by {self.grouped_by}" if self.grouped_by else "ungrouped"
        return f"split ({how}): " + ", ".join(parts)


def group_keys(manifest: Manifest, group: str | None = "auto") -> tuple[np.ndarray | None, str | None]:
    """Group key per kept row and what it is: the ColumnMap's group column, else with ``auto`` the
    image path when one image appears in several rows, else None (each row its own group)."""
    frame = manifest.frame
    if group == "none":
        return None, None
    if "group" in frame:
        return frame["group"].to_numpy(dtype=object), str(manifest.columns.group)
    if group not in (None, "auto"):
        raise SpecError(f"split group must be 'auto', 'none' or a column the ColumnMap names. Got: {group!r}")
    if "image" in frame and frame["image"].duplicated().any():
        return frame["image"].to_numpy(dtype=object), "image"
    return None, None


def split_rows(
    manifest: Manifest, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0, group: str | None = "auto"
) -> Split:
    """Split each label's rows by the fractions (rounded half up), the rest to training.

    With groups (see :func:`group_keys`), whole groups are dealt out instead, stratified by each
    group's most common label. Each label is shuffled by its own generator, seeded with ``seed`` and the label's CRC-32, so the
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
    keys, grouped_by = group_keys(manifest, group)
    if keys is not None:
        return _split_groups(manifest, keys, grouped_by, val_fraction, test_fraction, seed)
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


def _split_groups(
    manifest: Manifest, keys: np.ndarray, grouped_by: str | None, val_fraction: float, test_fraction: float, seed: int
) -> Split:
    rows, labels = manifest.rows, manifest.labels
    members: dict[str, list[int]] = {}
    votes: dict[str, Counter[str]] = {}
    for row, key, label in zip(rows.tolist(), keys.tolist(), labels.tolist(), strict=True):
        members.setdefault(str(key), []).append(row)
        votes.setdefault(str(key), Counter())[label] += 1
    # A group's stratum is its most common label (ties: the first in sorted order).
    strata: dict[str, list[str]] = {}
    for key, counter in votes.items():
        top = max(counter.values())
        strata.setdefault(min(lb for lb, n in counter.items() if n == top), []).append(key)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    counts = {"train": 0, "val": 0, "test": 0}
    for label in sorted(strata):
        keys_of_label = sorted(strata[label])
        rng = np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])
        keys_of_label = [keys_of_label[i] for i in rng.permutation(len(keys_of_label))]
        total = sum(len(members[k]) for k in keys_of_label)
        want = {"test": total * test_fraction, "val": total * val_fraction}
        taken = {"test": 0, "val": 0}
        for index, key in enumerate(keys_of_label):
            size = len(members[key])
            part = "train"
            if index < len(keys_of_label) - 1:  # the last group of a label always trains
                for name in ("test", "val"):
                    # take the group while that brings the part closer to its share of rows
                    if abs(taken[name] + size - want[name]) < abs(taken[name] - want[name]):
                        part = name
                        break
            if part != "train":
                taken[part] += size
            parts[part].extend(members[key])
            counts[part] += 1
    joined = {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in parts.items()}
    return Split(train=joined["train"], val=joined["val"], test=joined["test"], grouped_by=grouped_by,
                 group_counts=counts)


def _counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    n_val = math.floor(n * val_fraction + 0.5)
    n_test = math.floor(n * test_fraction + 0.5)
    while n_val + n_test > n - 1 and n_val + n_test > 0:  # keep one training row
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test
