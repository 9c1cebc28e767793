"""What a model file is, read before any interpreter sees it: a TFLite flatbuffer, complete, and its op codes.

An interpreter handed an HTML page, a Git LFS pointer or half a download says something like "Could not
open model" or crashes; :func:`check_flatbuffer` says what the bytes are instead. The reader below walks
only the few tables it needs (operator codes and buffers) of the TFLite schema; no flatbuffers package.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from edge_sdk.errors import ModelFormatError

__all__ = ["ModelOps", "check_flatbuffer"]

IDENTIFIER = b"TFL3"
# BuiltinOperator codes (tensorflow/compiler/mlir/lite/schema/schema.fbs) of the ops that hold resource variables.
_RESOURCE_VARIABLE_OPS = frozenset({142, 143, 144})  # VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE
_CUSTOM = 32
# Model table fields
_MODEL_OPERATOR_CODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS = 1, 2, 4
# Known file types a .tflite download turns out to be, by their first bytes.
_MAGIC = (
    (b"PK\x03\x04", "a zip archive (unzip it first: the .tflite may be inside)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "a gzip archive (gunzip or untar it first)"),
    (b"\x89HDF", "an HDF5 file (a Keras .h5 model: convert it to TFLite first)"),
)


@dataclass(frozen=True)
class ModelOps:
    """The operator codes a model declares: builtin codes and custom op names (Select TF ops are ``Flex...``)."""

    builtin: frozenset[int]
    custom: tuple[str, ...]

    @property
    def resource_variables(self) -> bool:
        """True if the model keeps state in resource variables (``reset_all_variables`` does not clear those)."""
        return bool(self.builtin & _RESOURCE_VARIABLE_OPS)


class _Truncated(Exception):
    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def _unpack(self, fmt: str, at: int) -> int:
        end = at + struct.calcsize(fmt)
        if at < 0 or end > len(self.data):
            raise _Truncated(end)
        return int(struct.unpack_from(fmt, self.data, at)[0])

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of a table's field, or None if the field is absent."""
        vtable = table - self._unpack("<i", table)
        size = self._unpack("<H", vtable)
        if 4 + 2 * index >= size:
            return None
        offset = self._unpack("<H", vtable + 4 + 2 * index)
        return table + offset if offset else None

    def deref(self, at: int) -> int:
        return at + self._unpack("<I", at)

    def vector(self, table: int, index: int, element_size: int = 4) -> tuple[int, int]:
        """(start of the elements, count) of a vector field; (0, 0) when absent. Checks it fits the data."""
        at = self.field(table, index)
        if at is None:
            return 0, 0
        start = self.deref(at)
        count = self._unpack("<I", start)
        if start + 4 + count * element_size > len(self.data):
            raise _Truncated(start + 4 + count * element_size)
        return start + 4, count

    def tables(self, table: int, index: int) -> list[int]:
        start, count = self.vector(table, index)
        return [self.deref(start + 4 * i) for i in range(count)]

    def scalar(self, table: int, index: int, fmt: str) -> int:
        at = self.field(table, index)
        return 0 if at is None else self._unpack(fmt, at)

    def string(self, table: int, index: int) -> str:
        start, count = self.vector(table, index, element_size=1)
        return self.data[start:start + count].decode("utf-8", "replace")


def _text(data: bytes) -> str | None:
    """The first bytes as text if they are printable UTF-8 (a cut multi-byte character is tolerated)."""
    head = data[:64]
    for cut in range(4):
        try:
            text = head[:len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return text if text and all(c.isprintable() or c in "\r\n\t" for c in text) else None
    return None


def _describe_head(data: bytes) -> str:
    if not data:
        return "the file is empty"
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"it is {what}"
    text = _text(data)
    if text is None:
        return f"the first bytes are {data[:8].hex(' ')}; expected the identifier 'TFL3' at bytes 4..8"
    described = f"the first bytes are text ({text[:40] + '…'!r})"
    if text.startswith("version https://git-lfs"):
        return f"{described}: a Git LFS pointer, not the model itself (run: git lfs pull)"
    if "<html" in text.lower() or "<!doctype" in text.lower():
        return f"{described}: an HTML page (a download link that returned a web page?)"
    return described


def check_flatbuffer(data: bytes, where: str) -> ModelOps:
    """Raise ModelFormatError unless ``data`` is a whole TFLite flatbuffer, else return its op codes.

    Trailing bytes (a bundle's attached zip) are fine: only what the flatbuffer refers to must be there.
    """
    if len(data) >= 8 and data[4:8] == IDENTIFIER:
        try:
            return _walk(_Reader(data))
        except _Truncated as cut:
            raise ModelFormatError(
                f"{where}: truncated: {len(data)} bytes, but the TFLite flatbuffer refers to byte {cut.needed}. "
                "The file is incomplete (an interrupted download or copy?)"
            ) from None
    if 0 < len(data) < 8 and IDENTIFIER.startswith(data[4:]) and _text(data) is None:
        raise ModelFormatError(f"{where}: truncated: {len(data)} bytes, too short to be a TFLite flatbuffer")
    raise ModelFormatError(f"{where}: not a TFLite flatbuffer: {_describe_head(data)}")


def _walk(reader: _Reader) -> ModelOps:
    root = reader.deref(0)
    builtin: set[int] = set()
    custom: list[str] = []
    for code in reader.tables(root, _MODEL_OPERATOR_CODES):
        # builtin_code (field 3) replaced deprecated_builtin_code (field 0, int8) once codes passed 127
        value = max(reader.scalar(code, 0, "<b"), reader.scalar(code, 3, "<i"))
        builtin.add(value)
        if value == _CUSTOM:
            custom.append(reader.string(code, 1))
    reader.tables(root, _MODEL_SUBGRAPHS)
    for buffer in reader.tables(root, _MODEL_BUFFERS):
        reader.vector(buffer, 0, element_size=1)  # the weights: what a truncated file loses first
        offset, size = reader.scalar(buffer, 1, "<Q"), reader.scalar(buffer, 2, "<Q")
        if offset > 1 and offset + size > len(reader.data):  # > 2 GB models keep buffers after the flatbuffer
            raise _Truncated(offset + size)
    return ModelOps(frozenset(builtin), tuple(dict.fromkeys(custom)))

