"""Fixtures for the MQTT tests: a real Mosquitto per test on a free port, payload validation."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from edge_sdk.mqtt import MQTTConfig
from edge_sdk.testing import MosquittoBroker, MQTTRecorder

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(),
    reason="needs the mosquitto binary (apt-get install mosquitto)",
)


def _schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("edge_sdk").joinpath("schemas", name).read_text())


@pytest.fixture(scope="session")
def result_validator() -> jsonschema.protocols.Validator:
    schema = _schema("result-1.json")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="session")
def stats_validator() -> jsonschema.protocols.Validator:
    schema = _schema("stats-1.json")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Factory: ``make_broker(users=..., acl=..., tls=...)`` -> a started broker, stopped after the test."""
    brokers: list[MosquittoBroker] = []

    def make(**options: Any) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / f"broker{len(brokers)}", **options)
        brokers.append(broker)
        return broker.start()

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def broker(make_broker: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    return make_broker()


@pytest.fixture
def recorder_for() -> Iterator[Callable[..., MQTTRecorder]]:
    recorders: list[MQTTRecorder] = []

    def make(broker: MosquittoBroker, topics: list[str], **options: Any) -> MQTTRecorder:
        recorder = MQTTRecorder(broker.host, broker.port, topics, **options).start()
        recorders.append(recorder)
        return recorder

    yield make
    for recorder in recorders:
        recorder.close()


def mqtt_config(broker: MosquittoBroker, tmp_path: Path, **overrides: Any) -> MQTTConfig:
    """A config for ``broker`` with test-friendly timings; ``outbox`` may be a dict of overrides."""
    outbox = {"path": str(tmp_path / "outbox.sqlite3"), **overrides.pop("outbox", {})}
    data: dict[str, Any] = {
        "device_id": "pi-test",
        "host": broker.host,
        "port": broker.port,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "drain_timeout_s": 5.0,
        "outbox": outbox,
        **overrides,
    }
    from edge_sdk.configtools import build

    return build(MQTTConfig, data, "mqtt")


def sample_result(i: int = 0) -> dict[str, Any]:
    """A result as the pipeline hands it to the publisher (no seq, boot, replayed)."""
    now = time.time()
    label = ("left", "center", "right", "absent", "blocked")[i % 5]
    return {
        "ts": now,
        "label": label,
        "confidence": 0.93,
        "scores": {"left": 0.93 if label == "left" else 0.01, "center": 0.02, "right": 0.03,
                   "absent": 0.01, "blocked": 0.01},
        "inputs": {"frame_ts": now - 0.02, "text": "find the red circle", "sensor_ts": now - 0.035,
                   "sensor": {"distance_cm": 42.0}, "skew_ms": 15.0},
        "model": {"name": "seek", "version": "3", "quant": "int8", "sha256": "ab" * 32},
        "timing_ms": {"capture": 4.1, "preprocess": 1.2, "invoke": 8.5, "post": 0.2},
    }
