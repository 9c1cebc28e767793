"""Fixtures for the update tests: a real key pair, real signed releases of the seek bundle, a real
Mosquitto, and a device config with an ``update`` section."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from releases import Keys, make_keys

from edge_sdk.testing import MosquittoBroker, MQTTRecorder

HAVE_MOSQUITTO = shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def update_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(resources.files("edge_sdk").joinpath("schemas", "update-1.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    if not HAVE_MOSQUITTO:
        pytest.skip("needs the mosquitto binary (apt-get install mosquitto)")
    with MosquittoBroker(tmp_path / "broker").start() as started:
        yield started


@pytest.fixture
def recorder_for() -> Iterator[Callable[..., MQTTRecorder]]:
    recorders: list[MQTTRecorder] = []

    def make(broker: MosquittoBroker, topics: list[str]) -> MQTTRecorder:
        recorder = MQTTRecorder(broker.host, broker.port, topics).start()
        recorders.append(recorder)
        return recorder

    yield make
    for recorder in recorders:
        recorder.close()


def device_config(directory: Path, base: Path, keys: Keys, *, device: str = "pi-update", fps: int = 20,
                  broker: MosquittoBroker | None = None, **update: Any) -> dict[str, Any]:
    """A seek device: generated frames, a fixed prompt, a fixed sensor reading, the update section."""
    sensor = directory / "sensor.jsonl"
    sensor.write_text('{"distance_cm": 80}\n')
    config: dict[str, Any] = {
        "device": device, "model": {"path": str(base)},
        "camera": {"source": f"seek://?seconds=3600&fps={fps}&size=64"},
        "text": {"prompt": "find the red circle"},
        "sensor": {"source": "file", "path": str(sensor), "max_age_s": None},
        "output": {"snapshot_hz": 0},
        "pipeline": {"stats_interval_s": 0.5},
        "update": {"store_dir": str(directory / "store"), "trusted_keys": [str(keys.public)],
                   "shadow_frames": 5, "health_frames": 5, "health_timeout_s": 30.0, **update},
    }
    if broker is None:
        config["embedded_broker"] = {"enabled": False}
    else:
        config["mqtt"] = {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1,
                          "outbox": {"path": str(directory / "outbox.sqlite3")}}
    return config


def announcement(bundle: Path, update_id: str, url: str | None = None) -> dict[str, Any]:
    document = json.loads(Path(str(bundle) + ".update.json").read_text())
    return {"id": update_id, "document": document, "url": url or str(bundle)}
