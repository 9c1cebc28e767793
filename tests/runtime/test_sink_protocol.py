"""Every sink is a ResultSink; both MQTT publishers are one MQTTSink and behave the same against a real Mosquitto."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.sinks import JSONLinesSink, MQTTSink, ResultSink
from edge_sdk.sinks.mqtt import McuInfo, MQTTConfig, MQTTPublisher
from edge_sdk.sinks.mqtt.link import MQTTLink
from edge_sdk.sinks.mqtt.process import CALLS, LinkProxy, PublisherProcess
from edge_sdk.testing import example_result

VARIANTS = [MQTTPublisher, PublisherProcess]
N_RESULTS = 60
BASE = "edge_sdk/pi-test"
MCU = McuInfo(name="seek-uno", channels=("distance_cm",))
# the publisher's stats (the `mqtt` section of the stats topic): both variants report every one of them
STATS_KEYS = {
    "state", "connected", "client_id", "boot", "last_seq", "results", "acked", "refused_by_broker", "replayed",
    "inflight", "rejected", "unencodable", "homeassistant_announcements", "connects", "disconnects",
    "connect_failures", "last_error", "last_error_kind", "stats_sent", "stats_dropped", "raw_dropped", "outbox",
    "commands", "last_command_rejection",
}


def test_every_sink_satisfies_the_protocols(tmp_path: Path) -> None:
    config = MQTTConfig(device_id="pi-test", outbox=_outbox(tmp_path))
    assert isinstance(JSONLinesSink("pi-test", io.StringIO()), ResultSink)
    assert not isinstance(JSONLinesSink("pi-test", io.StringIO()), MQTTSink)  # no broker behind it
    for variant in VARIANTS:
        publisher = variant(config)  # not started: no process, no connection
        try:
            assert isinstance(publisher, ResultSink) and isinstance(publisher, MQTTSink), variant
        finally:
            publisher.close()


def test_the_proxy_forwards_exactly_the_calls_the_link_has() -> None:
    """One table: every name in CALLS is an MQTTLink method and a LinkProxy attribute of the same name."""
    for name in CALLS:
        assert callable(getattr(MQTTLink, name)), name
        assert hasattr(LinkProxy, name if name != "stats" else "_stats"), name


@pytest.mark.broker
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.__name__)
def test_both_variants_deliver_the_same_scenario(
    variant: type[MQTTPublisher], broker: Any, recorder_for: Any, mqtt_config: Any, result_validator: Any
) -> None:
    recorder = recorder_for(broker, [f"{BASE}/#", "homeassistant/#"])
    prompts: list[str] = []
    config = mqtt_config(broker, homeassistant={"enabled": True})
    with variant(config) as publisher:
        publisher.on_command("text", prompts.append, payload_format="text")
        publisher.add_stats_section("actions", lambda: {"sent": 2})
        publisher.wait_connected(5)
        seqs = [publisher.publish_result(example_result(i)) for i in range(N_RESULTS // 2)]
        seqs += publisher.publish_results([example_result(i) for i in range(N_RESULTS // 2, N_RESULTS)])
        assert publisher.flush(10)
        assert publisher.publish_stats({"fps": 30.0})
        assert publisher.publish_raw("snapshot", b"\xff\xd8jpeg", retain=True)
        assert publisher.announce_homeassistant(mcu=MCU)
        recorder.client.publish(f"{BASE}/cmd/text", b"find the red circle", qos=1)
        deadline = time.monotonic() + 5
        while not prompts and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = publisher.stats()
        boot = publisher.boot
    assert seqs == list(range(1, N_RESULTS + 1))
    assert recorder.wait_for(lambda _: len(recorder.on(f"{BASE}/events")) >= N_RESULTS, 5)
    events = [m.json() for m in recorder.on(f"{BASE}/events")]
    for event in events:
        result_validator.validate(event)
    assert [e["seq"] for e in events] == seqs and {e["boot"] for e in events} == {boot}
    assert prompts == ["find the red circle"]
    assert STATS_KEYS <= set(stats), sorted(STATS_KEYS - set(stats))
    assert stats["acked"] == N_RESULTS and stats["outbox"]["pending"] == 0 and stats["last_seq"] == N_RESULTS
    assert stats["commands"]["handled"] == 1
    # announced on connect, then again for the MCU
    assert stats["homeassistant_announcements"] == 2
    assert recorder.wait_for(lambda _: recorder.on("homeassistant/sensor/pi-test/mcu_distance_cm/config"), 5)
    assert recorder.wait_for(lambda _: recorder.on(f"{BASE}/stats") and recorder.on(f"{BASE}/snapshot"), 5)
    published = recorder.on(f"{BASE}/stats")[0].json()
    assert published["fps"] == 30.0 and published["actions"] == {"sent": 2}
    assert published["mqtt"]["connected"] is True and "commands" in published["mqtt"]
    assert recorder.on(f"{BASE}/snapshot")[0].payload == b"\xff\xd8jpeg"
    assert recorder.wait_for(lambda _: [m.payload for m in recorder.on(f"{BASE}/available")][-1:] == [b"stopped"], 5)


def _outbox(tmp_path: Path) -> Any:
    from edge_sdk.sinks.mqtt import OutboxConfig

    return OutboxConfig(path=str(tmp_path / "outbox.sqlite3"))


def test_the_jsonl_sink_takes_the_same_calls_the_pipeline_makes() -> None:
    stream = io.StringIO()
    sink: ResultSink = JSONLinesSink("pi-test", stream)
    assert sink.publish_result(example_result(0)) == 1
    assert sink.publish_stats({"fps": 1.0})
    sink.close()
    assert [json.loads(line)["schema"] for line in stream.getvalue().splitlines()] == [
        "edge_sdk.result/1", "edge_sdk.stats/1"]
