"""Fixtures for the deployment tests: a small valid bundle and device config, no interpreter needed.

``make_deployment`` reads the bundle's manifest and checks its SHA-256 but never runs the model
(that happens on the Pi, in ``install.sh``), so a flatbuffer with just the TFLite identifier will do.

Building the real wheel takes seconds, so ``make_deployment`` gets a stand-in wheel holding only the
metadata setup.cfg declares (name, version, Requires-Dist); tests that use the ``real_wheel_build``
fixture build the real one.
"""

from __future__ import annotations

import configparser
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import edge_sdk
from edge_sdk.bundle import InputSpec, Manifest, ModelInfo, OutputSpec, write_bundle
from edge_sdk.distribution import DISTRIBUTION, WHEEL_PREFIX
from edge_sdk.preprocess import SensorChannel, SensorSpec

ROOT = Path(__file__).resolve().parents[2]

# 'TFL3' at byte 4 is what read_bundle checks; the rest is never interpreted here.
FAKE_FLATBUFFER = b"\x1c\x00\x00\x00TFL3" + bytes(56)

DEVICE_YAML = """\
device: pi-kitchen
camera: {source: "picamera2://0"}
text: {source: mqtt, max_age_s: 600}
mqtt:
  host: broker.lan
  username: pi-kitchen
  password: ${MQTT_PASSWORD}
"""


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    manifest = Manifest.single(
        model=ModelInfo(name="tiny", version="7"),
        inputs=(InputSpec("sensor", "sensor", (1, 1), "float32", SensorSpec((SensorChannel("distance_cm", "cm"),))),),
        outputs=(OutputSpec("scores", "scores", (1, 2), "float32", labels=("near", "far")),),
        quantization="float32",
    )
    path = tmp_path / "in" / "tiny.tflite"
    write_bundle(path, FAKE_FLATBUFFER, manifest)
    return path


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The secret lives on the device, not on the build machine.
    monkeypatch.delenv("MQTT_PASSWORD", raising=False)
    path = tmp_path / "in" / "device.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEVICE_YAML)
    return path


def write_fake_wheel(out_dir: Path, name: str = DISTRIBUTION) -> Path:
    """A wheel with setup.cfg's metadata and no code: what make_deployment reads from the real one."""
    setup = configparser.ConfigParser(interpolation=None)
    setup.read(ROOT / "setup.cfg")
    requires = [line for line in setup["options"]["install_requires"].split("\n") if line.strip()]
    requires += [f'{req.strip()}; extra == "{extra}"' for extra, reqs in setup["options.extras_require"].items()
                 for req in reqs.split("\n") if req.strip() and not req.strip().startswith("#")]
    version = edge_sdk.__version__
    stem = f"{name.replace('-', '_')}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {req}\n" for req in requires)
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{stem}.dist-info/METADATA", metadata)
    return wheel


@pytest.fixture
def fake_wheel() -> Callable[..., Path]:
    """:func:`write_fake_wheel`, for tests that ship a wheel of their own."""
    return write_fake_wheel


@pytest.fixture
def real_wheel_build() -> None:
    """Requested by tests that build the real wheel from the source tree."""


@pytest.fixture(autouse=True)
def fake_wheel_build(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "real_wheel_build" in request.fixturenames:
        return
    built: list[Path] = []

    def build(tree: Path, out_dir: Path) -> Path:
        assert (tree / "setup.cfg").is_file()
        built.append(tree)
        return write_fake_wheel(out_dir)

    monkeypatch.setattr("edge_sdk.deploy.package.build_wheel", build)
    assert WHEEL_PREFIX == "edge_fusion_sdk-"
