"""Read and write bundles: a ``.tflite`` flatbuffer with a zip archive appended.

Interpreters ignore bytes after the flatbuffer, so a bundle still loads anywhere as a plain model;
Python's ``zipfile`` finds the archive from its end. This is the convention TFLite metadata and
MediaPipe use for associated files. The archive holds ``manifest.json`` and assets (golden images,
the vocabulary and labels as plain text for people and other tools).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_sdk.bundle.manifest import Manifest
from edge_sdk.errors import BundleError

__all__ = ["SHIPPED", "Bundle", "read_bundle", "shipped_bundle_path", "write_bundle"]

MANIFEST_NAME = "manifest.json"
# Bundles installed with the package, by a name that works from any directory: read_bundle("seek")
SHIPPED = {"seek": "seek_int8.tflite"}


def shipped_bundle_path(name: str) -> Path:
    """The file of a bundle shipped with edge_sdk (``"seek"``: the demo's int8 seek model)."""
    if name not in SHIPPED:
        raise BundleError(f"no bundle named {name!r} ships with edge_sdk. Shipped: {', '.join(SHIPPED)}")
    return Path(__file__).resolve().parent.parent / "data" / SHIPPED[name]


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: the manifest, the flatbuffer bytes and the attached assets."""

    path: Path | None
    manifest: Manifest
    flatbuffer: bytes
    assets: Mapping[str, bytes]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.flatbuffer).hexdigest()

    def asset_array(self, name: str) -> np.ndarray:
        """An ``.npy`` asset as an array (golden images)."""
        try:
            data = self.assets[name]
        except KeyError:
            raise BundleError(f"bundle asset {name!r} is missing. Assets: {sorted(self.assets)}") from None
        return np.load(io.BytesIO(data), allow_pickle=False)


def write_bundle(
    path: str | Path, flatbuffer: bytes, manifest: Manifest, assets: Mapping[str, bytes] | None = None
) -> Manifest:
    """Write ``flatbuffer`` + manifest + assets to ``path``; returns the manifest with its SHA-256 set.

    Written to a temporary file and renamed, so a reader never sees a half-written bundle.
    """
    _check_flatbuffer(flatbuffer, str(path))
    manifest = replace(manifest, tflite_sha256=hashlib.sha256(flatbuffer).hexdigest())
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    # A new archive after the flatbuffer, never ZipFile(mode="a"): a model that already carries TFLite
    # metadata ends in a zip of its own, which "a" would extend, moving our manifest into its files.
    # zipfile reads an archive with bytes before it (it corrects the offsets), as interpreters ignore
    # the bytes after the flatbuffer.
    archive_bytes = io.BytesIO()
    with zipfile.ZipFile(archive_bytes, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST_NAME, manifest.to_json())
        for name, data in sorted((assets or {}).items()):
            archive.writestr(name, data)
    tmp.write_bytes(flatbuffer + archive_bytes.getvalue())
    tmp.replace(target)
    return manifest


def read_bundle(source: str | Path | bytes, verify_sha256: bool = True) -> Bundle:
    """Load a bundle from a path, a shipped bundle's name (``"seek"``) or bytes; errors say what was
    expected and what came."""
    where = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        path = None
    else:
        path = Path(source)
        if str(source) in SHIPPED and not path.exists():  # a name, not a file here
            path = shipped_bundle_path(str(source))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BundleError(f"model bundle not found: {path}") from None
        except OSError as exc:
            raise BundleError(f"cannot read model bundle {path}: {exc.strerror or exc}") from exc
    _check_flatbuffer(data, where)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        if MANIFEST_NAME.encode() in data:  # our archive's first entry is there, its directory is not
            raise BundleError(f"{where}: truncated or corrupt: the bundle's attached archive (with its "
                              f"{MANIFEST_NAME}) is cut off. Copy the file again") from None
        raise BundleError(
            f"{where}: a plain .tflite without an edge_sdk manifest. Expected a bundle; "
            "make one with `edge-sdk wrap` by describing its inputs and outputs"
        ) from None
    with archive:
        infos = archive.infolist()
        if MANIFEST_NAME not in archive.namelist():
            raise BundleError(f"{where}: the attached archive has no {MANIFEST_NAME}. Got: {archive.namelist()}")
        try:
            files = {info.filename: archive.read(info) for info in infos}
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise BundleError(f"{where}: the attached archive is corrupt ({exc})") from exc
        flatbuffer_end = min(info.header_offset for info in infos)
    manifest = Manifest.from_json(files.pop(MANIFEST_NAME), where=f"{where}: {MANIFEST_NAME}")
    flatbuffer = data[:flatbuffer_end]
    bundle = Bundle(path=path, manifest=manifest, flatbuffer=flatbuffer, assets=files)
    if verify_sha256 and manifest.tflite_sha256 and bundle.sha256 != manifest.tflite_sha256:
        raise BundleError(
            f"{where}: the flatbuffer does not match its manifest (corrupt or edited file). "
            f"Expected sha256: {manifest.tflite_sha256[:16]}… Got: {bundle.sha256[:16]}…"
        )
    return bundle


def _check_flatbuffer(data: bytes, where: str) -> None:
    """A whole TFLite flatbuffer, or a BundleError saying what the bytes are (text, a zip, truncated...)."""
    from edge_sdk.backends.flatbuffer import check_flatbuffer
    from edge_sdk.errors import ModelFormatError

    try:
        check_flatbuffer(data, where)
    except ModelFormatError as exc:
        raise BundleError(str(exc)) from None
