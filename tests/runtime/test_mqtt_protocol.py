"""MQTT 5 by default; a broker that speaks only 3.1.1 is a counted failure that says what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_sdk.configtools import build
from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt import MQTTConfig, MQTTPublisher
from edge_sdk.testing import example_result

pytest.importorskip("amqtt")


def test_mqtt5_is_the_default() -> None:
    assert MQTTConfig(device_id="d").protocol == "5"


def test_a_broker_that_speaks_only_311_is_a_counted_failure_naming_the_protocol_option(tmp_path: Path) -> None:
    from edge_sdk.sinks.mqtt.broker import EmbeddedBroker  # amqtt 0.12: MQTT 3.1.1 only, a v5 CONNECT hangs

    with EmbeddedBroker(port=0) as broker:
        options = {"device_id": "pi-test", "host": broker.host, "port": broker.port, "reconnect_min_s": 0.1,
                   "reconnect_max_s": 0.2, "outbox": {"path": str(tmp_path / "outbox.sqlite3")}}
        with MQTTPublisher(build(MQTTConfig, {**options, "keepalive_s": 1}, "mqtt")) as publisher:
            with pytest.raises(PublishError, match=(
                r"MQTT broker 127\.0\.0\.1:\d+ did not answer the CONNECT within the keepalive \(1 s\)\. .*"
                r"a broker that speaks only 3\.1\.1 needs mqtt\.protocol: 3\.1\.1"
            )):
                publisher.wait_connected(3.0)
            stats = publisher.stats()
        assert stats["connect_failures"] >= 1 and stats["last_error_kind"] == "network"
        # configured as the error says, the same broker takes the results
        with MQTTPublisher(build(MQTTConfig, {**options, "protocol": "3.1.1"}, "mqtt")) as publisher:
            publisher.wait_connected(5.0)
            publisher.publish_result(example_result())
            assert publisher.flush(5.0)
            assert publisher.stats()["acked"] == 1


def test_the_embedded_brokers_options_say_311() -> None:
    from edge_sdk.sinks.mqtt.broker import EmbeddedBroker

    assert EmbeddedBroker(port=0).mqtt_overrides()["protocol"] == "3.1.1"
