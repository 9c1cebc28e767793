"""Fixtures for the deployment tests: a small valid bundle and device config, no interpreter needed.

``make_deployment`` reads the bundle's manifest and checks its SHA-256 but never runs the model
(that happens on the Pi, in ``install.sh``), so a flatbuffer with just the TFLite identifier will do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_sdk.bundle import InputSpec, Manifest, ModelInfo, OutputSpec, write_bundle
from edge_sdk.preprocess import SensorChannel, SensorSpec

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
