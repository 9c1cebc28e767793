"""What a stock model says about itself: its TFLite metadata (normalization, image size) and the
associated files appended after it (labels), used by ``edge-sdk wrap`` as the spec's defaults.

TFLite metadata (``metadata_schema.fbs``) is a flatbuffer in the model's ``TFLITE_METADATA``
buffer: per input tensor, process units such as ``NormalizationOptions`` (mean, std) and content
properties such as ``ImageProperties`` (colour space, default size). ``edge-sdk wrap`` uses it to
pre-fill what a spec leaves out, so a stock model's own preprocessing is the default. Read with the
``flatbuffers`` runtime (which every TFLite interpreter package brings), without tflite-support.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_sdk.errors import BundleError

if TYPE_CHECKING:
    from edge_sdk.bundle.wrap import Details, OutputDescription, TensorDetail

__all__ = ["InputMetadata", "associated_files", "image_defaults", "labels_from_associated_files", "read_input_metadata"]

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


def associated_files(data: bytes, source: Path) -> dict[str, bytes]:
    """The zip of associated files TFLite metadata appends, if any; a bundle's own archive is refused."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        if "manifest.json" in names:
            raise BundleError(f"{source} is already a bundle (it carries an edge_sdk manifest). "
                              "Wrap the plain .tflite instead")
        return {name: archive.read(name) for name in names if not name.endswith("/")}




def labels_from_associated_files(d: OutputDescription, t: TensorDetail, associated: Mapping[str, bytes]) -> OutputDescription:
    if d.labels or d.role not in ("scores", "logits") or not t.shape:
        return d
    for name, data in sorted(associated.items()):
        if Path(name).name.lower().startswith("label") and name.lower().endswith(".txt"):
            labels = tuple(line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip())
            if len(labels) == t.shape[-1]:
                _log.info("output %r: %d labels from the model's metadata (%s)", t.name, len(labels), name)
                return dataclasses.replace(d, labels=labels)
    return d




def image_defaults(item: Any, model_inputs: Details, metadata: Sequence[Any]) -> dict[str, Any]:
    """What an image input's spec may leave out: the size from the tensor's shape, and the
    normalization and colour order the model's own TFLite metadata states (the spec's keys win)."""
    if item.role != "image":
        return {}
    names = list(model_inputs)
    name = item.name if item.name is not None else (names[0] if len(names) == 1 else None)
    if name not in model_inputs:
        return {}  # the binding reports it
    defaults: dict[str, Any] = {}
    shape = model_inputs[name].shape
    if len(shape) == 4 and shape[-1] == 3:
        defaults.update(height=shape[1], width=shape[2])
    position = names.index(name)
    meta = metadata[position] if position < len(metadata) else None
    if meta is not None:
        if meta.mean and meta.std:
            defaults["mean"] = list(meta.mean) * 3 if len(meta.mean) == 1 else list(meta.mean)
            defaults["std"] = list(meta.std) * 3 if len(meta.std) == 1 else list(meta.std)
        if meta.color_space == "RGB":
            defaults["color_order"] = "RGB"
        if defaults:
            _log.info("input %r: from the model's metadata: %s", name,
                      {k: v for k, v in defaults.items() if k in ("mean", "std", "color_order")})
    return defaults


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
