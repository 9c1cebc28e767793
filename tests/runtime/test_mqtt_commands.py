"""Commands on <prefix>/<device>/cmd/<name>: handled by name; malformed ones rejected and counted.

No sleeps as synchronisation: commands are sent once the broker granted the publisher's
subscription (``commands_subscribed``), and every wait is on a condition with a deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from edge_sdk.sinks.mqtt import MQTTPublisher
from edge_sdk.testing import example_result

pytestmark = pytest.mark.broker


def _send(recorder, topic: str, payload: bytes) -> None:
    recorder.client.publish(topic, payload, qos=1).wait_for_publish(5)


def _wait_until(condition: Callable[[], bool], timeout_s: float, what: Callable[[], object]) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.01)


def _wait_subscribed(publisher: MQTTPublisher) -> None:
    """The broker acknowledged the subscription to cmd/+: a command sent now reaches the publisher."""
    publisher.wait_connected(5)
    _wait_until(lambda: publisher.stats()["commands_subscribed"], 5, publisher.stats)


def test_commands_reach_their_handlers_and_malformed_ones_are_rejected_while_results_flow(
    broker, recorder_for, mqtt_config
) -> None:
    recorder = recorder_for(broker, ["edge_sdk/pi-test/events"])
    prompts: list[str] = []
    configs: list[object] = []
    handled = threading.Event()
    with MQTTPublisher(mqtt_config(broker, command_max_bytes=1024)) as publisher:
        publisher.on_command("prompt", lambda text: (prompts.append(text), handled.set()), payload_format="text")
        publisher.on_command("config", configs.append)
        publisher.on_command("explode", lambda value: 1 / 0)
        _wait_subscribed(publisher)
        base = "edge_sdk/pi-test/cmd/"
        sent = 0
        for i, (name, payload) in enumerate([
            ("config", b"{not json"),             # malformed JSON
            ("config", b"\xff\xfe"),              # not UTF-8
            ("prompt", b"\xc3"),                  # truncated UTF-8
            ("nosuch", b"{}"),                    # no handler
            ("config", b"[" + b"1," * 600 + b"1]"),  # over command_max_bytes
            ("explode", b"{}"),                   # handler raises
            ("config", b'{"max_fps": 10}'),       # fine
            ("prompt", b"find the red circle"),
        ]):
            _send(recorder, base + name, payload)
            publisher.publish_result(example_result(i))
            sent += 1
        assert handled.wait(5)
        _wait_until(lambda: publisher.stats()["commands"]["received"] == 8
                    and sum(publisher.stats()["commands"][k] for k in ("handled", "rejected", "failed")) == 8,
                    5, lambda: publisher.stats()["commands"])
        assert publisher.flush(5)
        commands = publisher.stats()["commands"]
        assert publisher.state.value == "connected"
    assert prompts == ["find the red circle"]
    assert configs == [{"max_fps": 10}]
    assert commands == {"received": 8, "handled": 2, "rejected": 5, "failed": 1, "dropped": 0}
    assert recorder.wait_for(lambda m: len(m) >= sent, 5)
    assert [m.json()["seq"] for m in recorder.messages] == list(range(1, sent + 1))


def test_rejection_reason_names_what_was_expected(broker, recorder_for, mqtt_config) -> None:
    recorder = recorder_for(broker, [])
    with MQTTPublisher(mqtt_config(broker)) as publisher:
        publisher.on_command("config", lambda value: None)
        _wait_subscribed(publisher)
        _send(recorder, "edge_sdk/pi-test/cmd/config", b'{"a": 1,}')
        _wait_until(lambda: publisher.stats()["commands"]["rejected"] >= 1, 5, lambda: publisher.stats()["commands"])
        assert publisher.stats()["last_command_rejection"] == (
            "edge_sdk/pi-test/cmd/config: expected JSON. Got: Expecting property name enclosed in double quotes "
            "at line 1 column 9"
        )


def test_command_names_are_checked_at_registration(broker, mqtt_config) -> None:
    publisher = MQTTPublisher(mqtt_config(broker))
    with pytest.raises(ValueError, match=r"command name must be 1-64 letters, digits, '_' or '-'. Got: 'a/b'"):
        publisher.on_command("a/b", print)
