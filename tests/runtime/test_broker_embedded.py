"""The embedded amqtt broker: a subscriber receives the publisher's results, over TCP and websockets."""

from __future__ import annotations

import threading

import pytest

from edge_sdk.configtools import build
from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt import MQTTConfig, MQTTPublisher
from edge_sdk.sinks.mqtt.broker import EmbeddedBroker
from edge_sdk.testing import MQTTRecorder, example_result

pytest.importorskip("amqtt")


def test_embedded_broker_delivers_results_to_tcp_and_websocket_subscribers(tmp_path, result_validator) -> None:
    with EmbeddedBroker(port=0, ws_port=0) as broker:
        assert broker.ws_port is not None
        tcp = MQTTRecorder(broker.host, broker.port, ["edge_sdk/pi-test/#"], protocol="3.1.1").start()
        ws = MQTTRecorder(broker.host, broker.ws_port, ["edge_sdk/pi-test/events"], protocol="3.1.1",
                          transport="websockets").start()
        try:
            config = build(MQTTConfig, {"device_id": "pi-test", **broker.mqtt_overrides(),
                                        "outbox": {"path": str(tmp_path / "outbox.sqlite3")}}, "mqtt")
            with MQTTPublisher(config) as publisher:
                publisher.wait_connected(5)
                for i in range(50):
                    publisher.publish_result(example_result(i))
                assert publisher.flush(10)
            assert tcp.wait_for(lambda _: len(tcp.on("edge_sdk/pi-test/events")) == 50, 5)
            assert ws.wait_for(lambda m: len(m) == 50, 5)
            assert tcp.wait_for(lambda _: [m.payload for m in tcp.on("edge_sdk/pi-test/available")]
                                == [b"online", b"stopped"], 5)
        finally:
            tcp.close()
            ws.close()
        for message in tcp.on("edge_sdk/pi-test/events") + ws.messages:
            result_validator.validate(message.json())
        assert [m.json()["seq"] for m in ws.messages] == list(range(1, 51))
    assert not any(t.name == "edge_sdk-embedded-broker" for t in threading.enumerate())


def test_embedded_broker_refuses_mqtt5_clients_so_use_its_overrides(tmp_path) -> None:
    with EmbeddedBroker(port=0) as broker:
        config = build(MQTTConfig, {"device_id": "pi-test", "host": broker.host, "port": broker.port,
                                    "protocol": "5", "outbox": {"path": str(tmp_path / "o.sqlite3")}}, "mqtt")
        with MQTTPublisher(config) as publisher, pytest.raises(PublishError, match="not connected"):
            publisher.wait_connected(1.5)


def test_a_taken_port_gives_a_clear_error() -> None:
    with EmbeddedBroker(port=0) as first:
        message = rf"embedded MQTT broker could not listen on 127\.0\.0\.1:{first.port}"
        with pytest.raises(PublishError, match=message):
            EmbeddedBroker(port=first.port).start()
