"""Fixtures of the index tests: a dual encoder trained well enough to be checked against ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def retrieval_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dual encoder (int8, 64-d, seek captions at 32x32) trained on 1,500 scenes for up to 30
    epochs: about a minute, and far better than chance on seek queries. Needs TensorFlow."""
    pytest.importorskip("tensorflow")
    from converters.retrieval.testing import tiny_dual_encoder_bundle

    return tiny_dual_encoder_bundle(tmp_path_factory.mktemp("retrieval"), scenes=1500, epochs=30, seed=0)
