"""The tiny real models of tests/backends, built once per test process by build_models.py.

Not a conftest: ``make test-tflite-runtime`` runs with ``--noconftest`` in a venv without TensorFlow,
and points ``EDGE_SDK_TEST_MODELS`` at models the main venv built. Without that variable and without
TensorFlow, the tests that need these models skip.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

MODELS_ENV = "EDGE_SDK_TEST_MODELS"
BUILD = Path(__file__).with_name("build_models.py")


@functools.cache
def _built() -> Path | str:
    """The directory of built models, or why there is none (cached, so a failed build is not retried)."""
    prebuilt = os.environ.get(MODELS_ENV)
    if prebuilt:
        return Path(prebuilt)
    if importlib.util.find_spec("tensorflow") is None:
        return f"TensorFlow is needed to build the test models (or set {MODELS_ENV})"
    out = Path(tempfile.mkdtemp(prefix="edge_sdk_test_models_"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    done = subprocess.run([sys.executable, str(BUILD), str(out)], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        return f"building the test models failed: {done.stderr[-2000:]}"
    return out


def model_bytes(name: str) -> bytes:
    """The flatbuffer of one model of build_models.MODELS; skips the test if it cannot be built here."""
    built = _built()
    if isinstance(built, str):
        if built.startswith("building"):
            pytest.fail(built)
        pytest.skip(built)
    return (built / f"{name}.tflite").read_bytes()
