"""MQTTPublisher against a real Mosquitto: payloads, retained topics, availability, life cycle."""

from __future__ import annotations

import time

import pytest

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt import MQTTPublisher, PublisherState
from edge_sdk.testing import MosquittoBroker
from edge_sdk.testing import example_result as sample_result

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_results_arrive_in_order_and_match_the_schema(
    broker, recorder_for, mqtt_config, result_validator, stats_validator, protocol: str
) -> None:
    config = mqtt_config(broker, protocol=protocol)
    recorder = recorder_for(broker, ["edge_sdk/pi-test/#"], protocol=protocol)
    with MQTTPublisher(config) as publisher:
        publisher.wait_connected(5)
        seqs = [publisher.publish_result(sample_result(i)) for i in range(200)]
        assert publisher.publish_stats({"fps": 30.0})
        assert publisher.flush(10)
        boot = publisher.boot
    assert seqs == list(range(1, 201))
    assert recorder.wait_for(lambda _: len(recorder.on("edge_sdk/pi-test/events")) >= 200, 5)
    events = recorder.on("edge_sdk/pi-test/events")
    payloads = [m.json() for m in events]
    for payload in payloads:
        result_validator.validate(payload)
    assert [p["seq"] for p in payloads] == seqs
    assert {p["boot"] for p in payloads} == {boot}
    assert not any(p["replayed"] for p in payloads)
    assert recorder.wait_for(lambda _: bool(recorder.on("edge_sdk/pi-test/stats")), 5)
    stats = recorder.on("edge_sdk/pi-test/stats")[0].json()
    stats_validator.validate(stats)
    assert stats["fps"] == 30.0 and stats["mqtt"]["connected"] is True


def test_latest_result_is_retained_for_late_subscribers(broker, recorder_for, mqtt_config, result_validator) -> None:
    with MQTTPublisher(mqtt_config(broker)) as publisher:
        publisher.wait_connected(5)
        for i in range(5):
            publisher.publish_result(sample_result(i))
        assert publisher.flush(5)
    late = recorder_for(broker, ["edge_sdk/pi-test/result", "edge_sdk/pi-test/available"])
    assert late.wait_for(lambda _: len(late.messages) >= 2, 5)
    result = late.on("edge_sdk/pi-test/result")[-1]
    assert result.retain
    result_validator.validate(result.json())
    assert result.json()["seq"] == 5
    assert late.on("edge_sdk/pi-test/available")[-1].payload == b"stopped"


def test_retained_result_is_refreshed_at_most_every_interval_and_ends_on_the_newest(
    broker, recorder_for, mqtt_config
) -> None:
    recorder = recorder_for(broker, ["edge_sdk/pi-test/result", "edge_sdk/pi-test/events"])
    with MQTTPublisher(mqtt_config(broker, retain_interval_s=0.3)) as publisher:
        publisher.wait_connected(5)
        started_s = time.monotonic()
        for i in range(40):  # 40 results over about 0.4 s
            publisher.publish_result(sample_result(i))
            time.sleep(0.01)
        elapsed_s = time.monotonic() - started_s
        assert recorder.wait_for(lambda _: len(recorder.on("edge_sdk/pi-test/events")) >= 40, 5)
        assert recorder.wait_for(lambda _: any(m.json()["seq"] == 40 for m in recorder.on("edge_sdk/pi-test/result")),
                                 2)  # the newest follows within the interval, without another result
    retained = [m.json()["seq"] for m in recorder.on("edge_sdk/pi-test/result")]
    assert retained[-1] == 40 and retained == sorted(retained)
    assert len(retained) <= elapsed_s / 0.3 + 2, retained


def test_availability_says_online_then_stopped_on_clean_close(broker, recorder_for, mqtt_config) -> None:
    recorder = recorder_for(broker, ["edge_sdk/pi-test/available"])
    publisher = MQTTPublisher(mqtt_config(broker))
    assert publisher.state is PublisherState.CREATED
    publisher.start()
    publisher.wait_connected(5)
    assert publisher.state is PublisherState.CONNECTED
    publisher.close()
    publisher.close()  # idempotent
    assert publisher.state is PublisherState.CLOSED
    assert recorder.wait_for(lambda m: [x.payload for x in m] == [b"online", b"stopped"], 5), recorder.messages


def test_publish_after_close_says_why(broker, mqtt_config) -> None:
    publisher = MQTTPublisher(mqtt_config(broker)).start()
    publisher.close()
    with pytest.raises(PublishError, match="publish_result needs a started publisher. State: closed"):
        publisher.publish_result(sample_result())


def test_result_must_not_carry_delivery_fields(broker, mqtt_config) -> None:
    message = "must not contain 'seq': the publisher assigns seq, boot and replayed"
    with MQTTPublisher(mqtt_config(broker)) as publisher, pytest.raises(ValueError, match=message):
        publisher.publish_result({**sample_result(), "seq": 3})


def test_websockets_transport_delivers(make_broker, recorder_for, mqtt_config, result_validator) -> None:
    broker: MosquittoBroker = make_broker(websockets=True)
    recorder = recorder_for(broker, ["edge_sdk/pi-test/events"])
    assert broker.ws_port is not None
    config = mqtt_config(broker, transport="websockets", port=broker.ws_port)
    with MQTTPublisher(config) as publisher:
        publisher.wait_connected(5)
        for i in range(20):
            publisher.publish_result(sample_result(i))
        assert publisher.flush(5)
    assert recorder.wait_for(lambda m: len(m) >= 20, 5)
    for message in recorder.messages:
        result_validator.validate(message.json())


def test_a_burst_of_a_thousand_results_is_all_delivered(broker, mqtt_config) -> None:
    """What publish_result costs per result is a figure of ``make bench-runtime`` (overhead_cpu_us_per_result),
    not a timed assertion here: on a shared machine it measures the neighbours. Here: nothing of a burst is lost."""
    with MQTTPublisher(mqtt_config(broker)) as publisher:
        publisher.wait_connected(5)
        result = sample_result()
        for _ in range(1000):
            publisher.publish_result(result)
        assert publisher.flush(30)
        stats = publisher.stats()
    assert stats["accepted"] == stats["acked"] == 1000
