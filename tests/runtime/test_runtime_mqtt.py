"""The assembled runtime with a real Mosquitto: prompts arrive as MQTT commands, bad ones are counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from edge_sdk import Runtime, parse_config
from edge_sdk.runtime import default_bundle_path

pytestmark = pytest.mark.broker


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_text_and_sensor_commands_drive_the_run(broker, recorder_for, tmp_path, result_validator) -> None:  # type: ignore[no-untyped-def]
    config = parse_config({
        "device": "pi-cmd",
        "model": {"path": str(default_bundle_path())},
        "camera": {"source": "seek://?seconds=600&fps=20&size=64"},
        "text": {"source": "mqtt"},
        "sensor": {"source": "mqtt", "max_age_s": None},
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1,
                 "outbox": {"path": str(tmp_path / "outbox.sqlite3")}},
        "pipeline": {"stats_interval_s": 0.5},
    })
    recorder = recorder_for(broker, ["edge_sdk/pi-cmd/#"])
    with Runtime(config) as runtime:
        runner = threading.Thread(target=runtime.run, name="test-runtime")
        runner.start()
        try:
            runtime.publisher.wait_connected(5.0)
            _wait_until(lambda: runtime.publisher.stats()["commands_subscribed"], 5.0)  # commands sent now arrive
            # no prompt, no sensor: frames are read and counted as incomplete, never turned into results
            _wait_until(lambda: runtime.pipeline.stats()["drops"]["incomplete_inputs"] >= 5, 10.0)
            assert runtime.pipeline.stats()["results"] == 0
            client = recorder.client
            client.publish("edge_sdk/pi-cmd/cmd/sensor", b"{not json", qos=1)
            client.publish("edge_sdk/pi-cmd/cmd/sensor", b'{"distance_cm": 12.5}', qos=1)
            client.publish("edge_sdk/pi-cmd/cmd/text", b"find the blue square", qos=1)

            def has_result(messages: list[Any]) -> bool:
                return any(m.topic.endswith("/events") and m.json()["inputs"].get("text") == "find the blue square"
                           for m in messages)

            assert recorder.wait_for(has_result, 10.0)
            assert recorder.wait_for(lambda ms: any(m.topic.endswith("/stats") for m in ms), 5.0)
            # dashboard thumbnails: JPEG bytes on <device>/snapshot
            assert recorder.wait_for(lambda ms: any(m.topic.endswith("/snapshot") and m.payload[:2] == b"\xff\xd8"
                                                    for m in ms), 5.0)
        finally:
            runtime.stop()
            runner.join(15.0)
    event = next(m.json() for m in recorder.messages if m.topic.endswith("/events"))
    result_validator.validate(event)
    assert event["inputs"]["sensor"] == {"distance_cm": 12.5}
    summary = runtime.summary()
    assert summary["mqtt"]["commands"]["handled"] == 3
    assert summary["inputs"]["sensor"]["rejected"] == 1  # the malformed reading, counted; the run went on
    assert summary["inputs"]["sensor"]["last_error"]
