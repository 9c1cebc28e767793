"""Real releases for the update tests and bench: copies of the shipped seek bundle at other versions,
signed with a real Ed25519 key; a "bad" one whose golden vectors were altered before signing."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from edge_sdk.bundle import read_bundle, write_bundle
from edge_sdk.bundle.io import shipped_bundle_path
from edge_sdk.update.document import sign_bundle
from edge_sdk.update.keys import SigningKey, generate_key

__all__ = ["Keys", "copy_shipped", "make_incompatible", "make_keys", "make_release"]


class Keys:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.signing = generate_key()
        self.private, self.public = directory / "release.key", directory / "release.pub"
        self.signing.write(self.private, self.public)
        self.other = generate_key()  # an attacker's key: not trusted by the devices
        self.other_private, self.other_public = directory / "other.key", directory / "other.pub"
        self.other.write(self.other_private, self.other_public)


def make_keys(directory: Path) -> Keys:
    return Keys(directory)


def make_release(directory: Path, version: int, key: SigningKey, *, bad_goldens: bool = False,
                 sensor_channel: str | None = None, expires_in_s: float = 86400.0, name: str | None = None) -> Path:
    """``seek-v<version>.tflite`` and its ``.update.json``; the bundle's manifest says the version too.

    ``bad_goldens``: every golden output moved by 0.5, so the model fails its goldens (a broken build).
    ``sensor_channel``: the sensor input renamed, goldens included: the goldens pass but live readings
    (``distance_cm``) no longer fit, so the model fails on live frames.
    """
    directory.mkdir(parents=True, exist_ok=True)
    source = read_bundle(shipped_bundle_path("seek"))
    manifest = replace(source.manifest, model=replace(source.manifest.model, version=str(version)))
    if bad_goldens:
        golden = tuple(replace(case, expected={k: tuple(v + 0.5 for v in values) for k, values in case.expected.items()})
                       for case in manifest.golden)
        manifest = replace(manifest, golden=golden)
    if sensor_channel is not None:
        manifest = _rename_sensor(manifest, sensor_channel)
    path = directory / (name or f"seek-v{version}{'-bad' if bad_goldens else ''}.tflite")
    write_bundle(path, source.flatbuffer, manifest, source.assets)
    sign_bundle(path, key, version, expires_in_s=expires_in_s)
    return path


def _rename_sensor(manifest, channel: str):  # type: ignore[no-untyped-def]
    signature = manifest.primary
    inputs = []
    for spec in signature.inputs:
        if spec.role == "sensor":
            pre = spec.preprocess
            spec = replace(spec, preprocess=replace(pre, channels=tuple(replace(c, name=channel) for c in pre.channels)))
        inputs.append(spec)
    golden = tuple(replace(case, sensor=dict(zip([channel], (case.sensor or {}).values(), strict=False)))
                   for case in manifest.golden)
    return replace(manifest, signatures=(replace(signature, inputs=tuple(inputs)), *manifest.signatures[1:]),
                   golden=golden)


def make_incompatible(directory: Path, version: int, key: SigningKey) -> Path:
    """A real bundle of another model (the zoo's image embedder: one image input, no text, no sensor)
    that calls itself seek, signed: only its inputs tell it apart."""
    from edge_sdk.bundle.wrap import wrap_from_spec_file

    zoo = Path(__file__).resolve().parent.parent / "fixtures" / "zoo"
    wrapped = directory / "embedder.tflite"
    wrap_from_spec_file(zoo / "embedder.tflite", wrapped, zoo / "specs" / "embedder.yaml")
    bundle = read_bundle(wrapped)
    manifest = replace(bundle.manifest, model=replace(bundle.manifest.model, name="seek", version=str(version)))
    path = directory / f"seek-v{version}-incompatible.tflite"
    write_bundle(path, bundle.flatbuffer, manifest, bundle.assets)
    sign_bundle(path, key, version)
    return path


def copy_shipped(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(shipped_bundle_path("seek"), directory / "seek-base.tflite"))
