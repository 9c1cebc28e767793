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


@pytest.fixture(scope="session")
def tiny_captioner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, tiny captioner bundle (int8, LSTM decoder; ``captioner_float32.tflite``, ``report.json`` and the
    seek data in ``data/`` beside it), built once per session in about 35 s: signatures ``encode`` and
    ``decode_step``. Briefly trained: its captions are words, not good ones. Needs TensorFlow."""
    pytest.importorskip("tensorflow")
    from converters.captioning.testing import tiny_generate_bundle

    return tiny_generate_bundle(tmp_path_factory.mktemp("captioner"), task="caption", rnn="lstm")


@pytest.fixture(scope="session")
def tiny_translator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like ``tiny_captioner``, for image-conditioned translation (GRU decoder; ``encode`` takes ``image`` and
    ``source``): ``translator_int8.tflite`` with ``translator_float32.tflite`` beside it. Needs TensorFlow."""
    pytest.importorskip("tensorflow")
    from converters.captioning.testing import tiny_generate_bundle

    return tiny_generate_bundle(tmp_path_factory.mktemp("translator"), task="translate", rnn="gru")
