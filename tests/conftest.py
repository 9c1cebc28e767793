"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_dual_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, tiny dual-encoder bundle (int8; ``dual_encoder_float32.tflite`` beside it), built once
    per session in about 30 s: signatures ``embed_image`` and ``embed_text``. Needs TensorFlow."""
    pytest.importorskip("tensorflow")
    from converters.retrieval.testing import tiny_dual_encoder_bundle

    return tiny_dual_encoder_bundle(tmp_path_factory.mktemp("dual_encoder"))
