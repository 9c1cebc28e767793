"""Shared fixtures for the converters tests: small seek datasets written by the real generator."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_sdk.demo.seek import write_dataset

SEEK_SAMPLES = 300  # every label about 60 times: enough to split 80/10/10 and still see each label
SEEK_SEED = 0


@pytest.fixture(scope="session")
def seek_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-sample 64x64 seek dataset, written once per session. Do not modify it: copy instead."""
    return write_dataset(tmp_path_factory.mktemp("seek"), SEEK_SAMPLES, seed=SEEK_SEED)


@pytest.fixture
def small_seek(tmp_path: Path) -> Path:
    """A 20-sample seek dataset of this test's own, free to edit (about 40 ms to write)."""
    return write_dataset(tmp_path / "seek", 20, seed=1)


@pytest.fixture
def edit_manifest() -> Callable[[Path, Callable[[list[dict[str, str]]], None]], Path]:
    """``edit_manifest(path, change)``: rewrite a CSV manifest after ``change(rows)`` mutates its rows."""

    def edit(path: Path, change: Callable[[list[dict[str, str]]], None]) -> Path:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
        change(rows)
        if rows:
            fields = list(rows[0])
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        return path

    return edit
