"""Real small datasets that scikit-learn ships, written as a user would have them: PNG files + a CSV.

Nothing is downloaded: ``load_digits`` and ``load_iris`` read files inside the scikit-learn wheel.

- :func:`write_digits`: the 1,797 8x8 handwritten digit scans as PNGs, ``scan,digit``.
- :func:`write_digit_questions`: the same scans, each asked "is this a <digit>?" twice (once the
  true digit, once another), ``scan,question,answer`` with answer yes/no: every scan is in two rows,
  so an ungrouped split would put the same scan in train and test.
- :func:`write_iris`: two sensor columns with units (petal length and width in cm), ``species``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _digits():  # type: ignore[no-untyped-def]
    from sklearn.datasets import load_digits

    return load_digits()


def _write_scans(out: Path, limit: int | None = None) -> list[tuple[str, int]]:
    digits = _digits()
    (out / "scans").mkdir(parents=True, exist_ok=True)
    rows = []
    count = len(digits.target) if limit is None else min(limit, len(digits.target))
    for index in range(count):
        # 0..16 ink to 255..15 paper-white background: a scan, dark ink on light paper
        pixels = (255 - digits.images[index] * 15).astype(np.uint8)
        name = f"scans/{index:04d}.png"
        cv2.imwrite(str(out / name), pixels)
        rows.append((name, int(digits.target[index])))
    return rows


def write_digits(out: Path, limit: int | None = None) -> Path:
    """``scan,digit`` (digit as a word: labels are names, not numbers to normalise)."""
    rows = _write_scans(out, limit)
    manifest = out / "digits.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["scan", "digit"])
        writer.writerows((name, DIGIT_NAMES[digit]) for name, digit in rows)
    return manifest


def write_digit_questions(out: Path, limit: int | None = None, seed: int = 0) -> Path:
    """``scan,question,answer``: each scan asked about its own digit (yes) and about another (no)."""
    rng = np.random.default_rng(seed)
    rows = _write_scans(out, limit)
    manifest = out / "questions.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["scan", "question", "answer"])
        for name, digit in rows:
            other = int((digit + rng.integers(1, 10)) % 10)
            asked = [(digit, "yes"), (other, "no")]
            for number, answer in (asked if rng.random() < 0.5 else asked[::-1]):
                writer.writerow([name, f"does this scan show a {DIGIT_NAMES[number]}", answer])
    return manifest


def write_iris(out: Path) -> Path:
    """``petal_length_cm,petal_width_cm,species``: a sensor-only classifier with two channels."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "iris.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["petal_length_cm", "petal_width_cm", "species"])
        for features, target in zip(iris.data, iris.target, strict=True):
            writer.writerow([f"{features[2]:.1f}", f"{features[3]:.1f}", iris.target_names[target]])
    return manifest
