"""Fixtures for the MQTT tests: a real Mosquitto per test on a free port, payload validation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from edge_sdk.configtools import build
from edge_sdk.sinks.mqtt import MQTTConfig
from edge_sdk.testing import MosquittoBroker, MQTTRecorder

HAVE_MOSQUITTO = shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()


def _schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("edge_sdk").joinpath("schemas", name).read_text())


class ResultValidator:
    """Validates a result payload against the schema it names: ``edge_sdk.result/1`` or ``/2``."""

    def __init__(self) -> None:
        self._by_schema = {}
        for version in (1, 2):
            schema = _schema(f"result-{version}.json")
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            self._by_schema[f"edge_sdk.result/{version}"] = cls(schema)

    def validate(self, payload: Any) -> None:
        name = payload.get("schema") if isinstance(payload, dict) else None
        assert name in self._by_schema, f"not a result payload schema: {name!r}"
        self._by_schema[name].validate(payload)


@pytest.fixture(scope="session")
def result_validator() -> ResultValidator:
    return ResultValidator()


@pytest.fixture(scope="session")
def stats_validator() -> jsonschema.protocols.Validator:
    schema = _schema("stats-1.json")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Factory: ``make_broker(users=..., acl=..., tls=...)`` -> a started broker, stopped after the test."""
    if not HAVE_MOSQUITTO:
        pytest.skip("needs the mosquitto binary (apt-get install mosquitto)")
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


@pytest.fixture
def mqtt_config(tmp_path: Path) -> Callable[..., MQTTConfig]:
    """Factory: a config for a broker with test-friendly timings; ``outbox`` may be a dict of overrides."""

    def make(broker: MosquittoBroker, **overrides: Any) -> MQTTConfig:
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
        return build(MQTTConfig, data, "mqtt")

    return make
