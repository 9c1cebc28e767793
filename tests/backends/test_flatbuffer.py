"""A file that is not a whole TFLite flatbuffer is described before any interpreter sees it (no TensorFlow)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from edge_sdk.backends import TFLiteBackend, check_flatbuffer
from edge_sdk.bundle import read_bundle
from edge_sdk.errors import BackendError, ModelFormatError
from edge_sdk.runtime import default_bundle_path


@pytest.fixture(scope="module")
def flatbuffer() -> bytes:
    return read_bundle(default_bundle_path()).flatbuffer


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("model.tflite", b"x")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"m\.tflite: not a TFLite flatbuffer: the file is empty"),
        (b"<!DOCTYPE html>\n<html><head><title>Sign in</title>",
         r"not a TFLite flatbuffer: the first bytes are text \('<!DOCTYPE html>\\n<html>.*…'\): an HTML page"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 123\n",
         r"the first bytes are text \('version https://git-lfs.*'\): a Git LFS pointer, not the model itself"),
        (b"name,value\n1,2\n", r"not a TFLite flatbuffer: the first bytes are text \('name,value\\n1,2\\n…'\)$"),
        (_zip(), r"not a TFLite flatbuffer: it is a zip archive \(unzip it first"),
        (b"\x1f\x8b\x08\x00" + bytes(20), r"it is a gzip archive"),
        (b"\x00\xff\x10\x20\x30\x40\x50\x60\x70\x80", r"the first bytes are 00 ff 10 20 30 40 50 60; expected the identifier 'TFL3'"),
        (b"\x1c\x00\x00\x00TF", r"m\.tflite: truncated: 6 bytes, too short to be a TFLite flatbuffer"),
    ],
    ids=["empty", "html", "git-lfs", "text", "zip", "gzip", "binary", "six-bytes"],
)
def test_what_the_bytes_are_is_said(data: bytes, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        check_flatbuffer(data, "m.tflite")


def test_a_truncated_flatbuffer_says_how_long_it_is_and_what_it_lacks(flatbuffer: bytes) -> None:
    for cut in (16, 100, len(flatbuffer) // 2, len(flatbuffer) - 1):
        with pytest.raises(ModelFormatError, match=rf"model: truncated: {cut} bytes, but the TFLite flatbuffer refers "
                                                   r"to byte \d+\. The file is incomplete"):
            check_flatbuffer(flatbuffer[:cut], "model")


def test_a_whole_flatbuffer_passes_and_trailing_bytes_do_not_matter(flatbuffer: bytes) -> None:
    ops = check_flatbuffer(flatbuffer, "model")
    assert ops.custom == () and not ops.resource_variables and 3 in ops.builtin  # CONV_2D
    check_flatbuffer(default_bundle_path().read_bytes(), "bundle")  # the flatbuffer with its zip attached


def test_the_backend_checks_before_the_interpreter_sees_the_bytes(tmp_path: Path, flatbuffer: bytes) -> None:
    with pytest.raises(ModelFormatError, match="model: truncated: 5000 bytes") as caught:
        TFLiteBackend(flatbuffer[:5000])
    assert isinstance(caught.value, BackendError) and isinstance(caught.value, ValueError)
    page = tmp_path / "model.tflite"
    page.write_bytes(b"<html><body>404 Not Found</body></html>")
    with pytest.raises(ModelFormatError, match=r".*model\.tflite: not a TFLite flatbuffer: .*an HTML page"):
        TFLiteBackend.from_file(page)
