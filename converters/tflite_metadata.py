"""TFLite metadata without the tflite-support package: the metadata flatbuffer and the labels zip.

A stock TFLite model with metadata is two things: a ``TFLITE_METADATA`` entry in the model's
``metadata`` field pointing at a buffer holding a ``ModelMetadata`` flatbuffer (file identifier
``M001``, schema ``tensorflow_lite_support/metadata/metadata_schema.fbs``), and a zip of the
associated files (``labels.txt``, vocabularies) appended after the model flatbuffer. tflite-support
0.4.4 has wheels for Python 3.11 but pins an old protobuf/flatbuffers stack, so this module writes
the few tables an image classifier needs directly with the ``flatbuffers`` package; the field slots
below are the schema's field order (a union takes two slots: its type, then its value).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["METADATA_NAME", "TensorMeta", "add_metadata", "append_associated_files", "associated_files",
           "classifier_metadata", "read_metadata"]

METADATA_NAME = "TFLITE_METADATA"
_IDENTIFIER = b"M001"
# metadata_schema.fbs enums
_IMAGE_PROPERTIES, _FEATURE_PROPERTIES = 2, 1  # ContentProperties
_RGB = 1  # ColorSpaceType
_NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions
_TENSOR_AXIS_LABELS = 2  # AssociatedFileType


@dataclass(frozen=True)
class TensorMeta:
    """One input or output tensor's metadata."""

    name: str
    description: str
    stats_min: float
    stats_max: float
    image_size: tuple[int, int] | None = None  # (width, height): an RGB image input
    mean: Sequence[float] = ()  # normalization: (x - mean) / std
    std: Sequence[float] = ()
    labels_file: str | None = None  # axis labels of an output


def classifier_metadata(name: str, description: str, version: str, image: TensorMeta, output: TensorMeta,
                        author: str = "edge_sdk", license_: str = "Apache-2.0") -> bytes:
    """A ``ModelMetadata`` flatbuffer (``M001``) for a one-input, one-output model."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    inputs = _vector(builder, [_tensor(builder, image)])
    outputs = _vector(builder, [_tensor(builder, output)])
    subgraph = _table(builder, {2: inputs, 3: outputs})  # input_tensor_metadata, output_tensor_metadata
    strings = {slot: builder.CreateString(text) for slot, text in
               ((0, name), (1, description), (2, version), (4, author), (5, license_), (7, "1.0.0"))}
    root = _table(builder, {**strings, 3: _vector(builder, [subgraph])})  # 3: subgraph_metadata
    builder.Finish(root, file_identifier=_IDENTIFIER)
    return bytes(builder.Output())


def _tensor(builder: Any, meta: TensorMeta) -> int:
    name, description = builder.CreateString(meta.name), builder.CreateString(meta.description)
    if meta.image_size is not None:
        size = _table(builder, {0: ("uint32", meta.image_size[0]), 1: ("uint32", meta.image_size[1])})
        properties = _table(builder, {0: ("uint8", _RGB), 1: size})  # color_space, default_size
        content = _table(builder, {0: ("uint8", _IMAGE_PROPERTIES), 1: properties})
    else:
        content = _table(builder, {0: ("uint8", _FEATURE_PROPERTIES), 1: _table(builder, {})})
    fields: dict[int, Any] = {0: name, 1: description, 3: content}
    if meta.mean:
        mean = builder.CreateNumpyVector(np.asarray(meta.mean, np.float32))
        std = builder.CreateNumpyVector(np.asarray(meta.std, np.float32))
        options = _table(builder, {0: mean, 1: std})
        unit = _table(builder, {0: ("uint8", _NORMALIZATION_OPTIONS), 1: options})
        fields[4] = _vector(builder, [unit])  # process_units
    stats_max = builder.CreateNumpyVector(np.asarray([meta.stats_max], np.float32))
    stats_min = builder.CreateNumpyVector(np.asarray([meta.stats_min], np.float32))
    fields[5] = _table(builder, {0: stats_max, 1: stats_min})
    if meta.labels_file:
        file_name = builder.CreateString(meta.labels_file)
        file_description = builder.CreateString("Labels for the categories the model outputs, one a line")
        labels = _table(builder, {0: file_name, 1: file_description, 2: ("uint8", _TENSOR_AXIS_LABELS)})
        fields[6] = _vector(builder, [labels])  # associated_files
    return _table(builder, fields)


def _table(builder: Any, fields: Mapping[int, Any]) -> int:
    """A table from slot -> offset (an int) or (kind, scalar); every offset made beforehand."""
    builder.StartObject(max(fields, default=-1) + 1)
    for slot, value in fields.items():
        if isinstance(value, tuple):
            kind, scalar = value
            {"uint8": builder.PrependUint8Slot, "uint32": builder.PrependUint32Slot}[kind](slot, scalar, 0)
        else:
            builder.PrependUOffsetTRelativeSlot(slot, value, 0)
    return int(builder.EndObject())


def _vector(builder: Any, offsets: Sequence[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return int(builder.EndVector())


def add_metadata(model: bytes, metadata: bytes, name: str = METADATA_NAME) -> bytes:
    """The model with ``metadata`` in a new buffer, named ``name`` in its ``metadata`` field."""
    import flatbuffers

    from edge_sdk._lazy import require

    schema = require("ai_edge_litert.schema_py_generated", "writing TFLite metadata")
    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    tree.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = name, len(tree.buffers) - 1
    tree.metadata = [m for m in (tree.metadata or []) if m.name.decode() != name] + [entry]
    builder = flatbuffers.Builder(len(model) + len(metadata) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_metadata(model: bytes, name: str = METADATA_NAME) -> bytes | None:
    """The bytes of the model's metadata buffer called ``name``, or None."""
    from edge_sdk._lazy import require

    schema = require("ai_edge_litert.schema_py_generated", "reading TFLite metadata")
    root = schema.Model.GetRootAs(model, 0)
    for index in range(root.MetadataLength()):
        entry = root.Metadata(index)
        if entry.Name().decode() == name:
            return bytes(root.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None


def append_associated_files(model: bytes, files: Mapping[str, bytes]) -> bytes:
    """``model`` followed by a zip of ``files`` (stored, fixed timestamps: the bytes are reproducible)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        for file_name, data in files.items():
            zipped.writestr(zipfile.ZipInfo(file_name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return model + archive.getvalue()


def associated_files(model: bytes) -> dict[str, bytes]:
    """The files zipped after the flatbuffer (empty when there is no zip)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as zipped:
            return {name: zipped.read(name) for name in zipped.namelist()}
    except zipfile.BadZipFile:
        return {}
