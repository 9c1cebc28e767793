"""Read what a stock model's TFLite metadata says about its inputs: normalization and image size.

TFLite metadata (``metadata_schema.fbs``) is a flatbuffer in the model's ``TFLITE_METADATA``
buffer: per input tensor, process units such as ``NormalizationOptions`` (mean, std) and content
properties such as ``ImageProperties`` (colour space, default size). ``edge-sdk wrap`` uses it to
pre-fill what a spec leaves out, so a stock model's own preprocessing is the default. Read with the
``flatbuffers`` runtime (which every TFLite interpreter package brings), without tflite-support.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["InputMetadata", "read_input_metadata"]

_log = logging.getLogger(__name__)
_METADATA_NAME = "TFLITE_METADATA"
_NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions
_IMAGE_PROPERTIES = 2  # ContentProperties
_COLOR_SPACES = {1: "RGB", 2: "GRAYSCALE"}


@dataclass(frozen=True)
class InputMetadata:
    """One input tensor's metadata, in the order of the subgraph's inputs."""

    name: str
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    color_space: str | None = None
    size: tuple[int, int] | None = None  # (width, height)


def read_input_metadata(model: bytes) -> list[InputMetadata]:
    """The inputs' metadata, or [] when the model carries none (or it cannot be read: logged)."""
    try:
        buffer = _metadata_buffer(model)
        return [] if buffer is None else _inputs(buffer)
    except Exception as exc:  # noqa: BLE001 - metadata is a hint for the spec: a bad one must not stop a wrap
        _log.warning("the model's TFLite metadata cannot be read (%s); the spec alone describes it", exc)
        return []


def _metadata_buffer(model: bytes) -> bytes | None:
    from ai_edge_litert import schema_py_generated as schema  # the TFLite schema ships with ai-edge-litert

    root = schema.Model.GetRootAs(model, 0)
    for index in range(root.MetadataLength()):
        entry = root.Metadata(index)
        if (entry.Name() or b"").decode() == _METADATA_NAME:
            return bytes(root.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None


def _inputs(buffer: bytes) -> list[InputMetadata]:
    from flatbuffers import table

    model = _Table.root(table, buffer)
    subgraphs = model.tables(3)  # subgraph_metadata
    if not subgraphs:
        return []
    found = []
    for tensor in subgraphs[0].tables(2):  # input_tensor_metadata
        mean: tuple[float, ...] = ()
        std: tuple[float, ...] = ()
        for unit in tensor.tables(4):  # process_units: options_type (0), options (1)
            if unit.scalar(0, "uint8") == _NORMALIZATION_OPTIONS and (options := unit.table(1)) is not None:
                mean, std = tuple(options.floats(0)), tuple(options.floats(1))
        color_space, size = None, None
        content = tensor.table(3)  # content: content_properties_type (0), content_properties (1)
        if content is not None and content.scalar(0, "uint8") == _IMAGE_PROPERTIES:
            properties = content.table(1)
            if properties is not None:
                color_space = _COLOR_SPACES.get(properties.scalar(0, "int8"))
                default_size = properties.table(1)
                if default_size is not None and default_size.scalar(0, "uint32"):
                    size = (default_size.scalar(0, "uint32"), default_size.scalar(1, "uint32"))
        found.append(InputMetadata(tensor.string(0), mean, std, color_space, size))
    return found


class _Table:
    """Field access by slot number on a flatbuffers table (the metadata schema's generated code is not a
    dependency)."""

    def __init__(self, inner: Any) -> None:
        self._t = inner

    @classmethod
    def root(cls, table: Any, buffer: bytes) -> _Table:
        from flatbuffers import encode, number_types

        return cls(table.Table(buffer, encode.Get(number_types.UOffsetTFlags.packer_type, buffer, 0)))

    def _offset(self, slot: int) -> int:
        return int(self._t.Offset(4 + 2 * slot))

    def table(self, slot: int) -> _Table | None:
        from flatbuffers import table

        offset = self._offset(slot)
        return None if not offset else _Table(table.Table(self._t.Bytes, self._t.Indirect(offset + self._t.Pos)))

    def tables(self, slot: int) -> list[_Table]:
        from flatbuffers import table

        offset = self._offset(slot)
        if not offset:
            return []
        start = self._t.Vector(offset)
        return [_Table(table.Table(self._t.Bytes, self._t.Indirect(start + 4 * i))) for i in range(self._t.VectorLen(offset))]

    def string(self, slot: int) -> str:
        offset = self._offset(slot)
        return "" if not offset else bytes(self._t.String(offset + self._t.Pos)).decode("utf-8", "replace")

    def scalar(self, slot: int, kind: str) -> int:
        from flatbuffers import number_types

        flags = {"uint8": number_types.Uint8Flags, "int8": number_types.Int8Flags, "uint32": number_types.Uint32Flags}
        offset = self._offset(slot)
        return 0 if not offset else int(self._t.Get(flags[kind], offset + self._t.Pos))

    def floats(self, slot: int) -> list[float]:
        from flatbuffers import number_types

        offset = self._offset(slot)
        if not offset:
            return []
        start = self._t.Vector(offset)
        return [float(self._t.Get(number_types.Float32Flags, start + 4 * i)) for i in range(self._t.VectorLen(offset))]
