"""Broker outages and crashes of the publishing process: every result arrives, replays say so.

Each test runs for both deliveries: threads of the publishing process (``MQTTPublisher``) and a
delivery process of its own (``PublisherProcess``, what ``edge-sdk run`` uses on two or more CPUs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge_sdk.sinks.mqtt import MQTTPublisher
from edge_sdk.sinks.mqtt.process import PublisherProcess
from edge_sdk.testing import MosquittoBroker, example_result

pytestmark = pytest.mark.broker

EVENTS = "edge_sdk/pi-test/events"
PUBLISHERS = {"threads": MQTTPublisher, "process": PublisherProcess}
both_deliveries = pytest.mark.parametrize("delivery", list(PUBLISHERS))

# The "device process" of the crash tests: publishes, then waits to be killed.
CHILD = r"""
import json, sys, time
from edge_sdk.configtools import build
from edge_sdk.sinks.mqtt import MQTTConfig, MQTTPublisher
from edge_sdk.sinks.mqtt.process import PublisherProcess
from edge_sdk.testing import example_result

config = build(MQTTConfig, json.loads(sys.argv[1]), "mqtt")
publisher = {"threads": MQTTPublisher, "process": PublisherProcess}[sys.argv[2]](config).start()
publisher.wait_connected(10)
print("boot", publisher.boot, flush=True)
for step in sys.stdin:
    count = int(step)
    for i in range(count):
        publisher.publish_result(example_result(i))
    if count and publisher.state.value == "connected":
        publisher.flush(10)
    print("published", publisher.stats()["last_seq"], flush=True)
time.sleep(60)
"""


class Device:
    """The publishing process, driven line by line over stdin."""

    def __init__(self, tmp_path: Path, config: dict, delivery: str) -> None:
        script = tmp_path / "device.py"
        script.write_text(CHILD)
        self.process = subprocess.Popen(
            [sys.executable, str(script), json.dumps(config), delivery], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, cwd=str(Path(__file__).resolve().parents[2]),
        )
        self.boot = self._expect("boot")

    def _expect(self, word: str) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        assert line and line[0] == word, f"device said {line!r}, expected {word!r}"
        return line[1]

    def publish(self, count: int) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{count}\n")
        self.process.stdin.flush()
        return int(self._expect("published"))

    def delivery_pids(self) -> list[int]:
        """The delivery process, when there is one."""
        pid = self.process.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def kill(self) -> None:
        """SIGKILL the publishing process only: a delivery process of its own must notice by itself."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def _config_dict(broker: MosquittoBroker, tmp_path: Path) -> dict:
    return {"device_id": "pi-test", "host": broker.host, "port": broker.port, "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5, "outbox": {"path": str(tmp_path / "outbox.sqlite3")}}


def _run_outage(broker, recorder, publisher: MQTTPublisher, outage_s: float, rate_hz: float = 200.0) -> int:
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            publisher.publish_result(example_result(i))
            i += 1
            time.sleep(1 / rate_hz)

    producer = threading.Thread(target=produce, name="test-producer")
    producer.start()
    try:
        time.sleep(0.5)
        broker.stop()
        time.sleep(outage_s)
        broker.start()
        time.sleep(1.0)
    finally:
        stop.set()
        producer.join()
    assert publisher.flush(20), publisher.stats()
    return publisher.stats()["last_seq"]


@both_deliveries
@pytest.mark.parametrize("outage_s", [
    pytest.param(2.0, id="2s"),
    pytest.param(10.0, id="10s", marks=pytest.mark.slow),
])
def test_every_seq_arrives_across_a_broker_outage(make_broker, recorder_for, mqtt_config, result_validator,
                                                  outage_s: float, delivery: str) -> None:
    broker = make_broker(persistence=True)
    recorder = recorder_for(broker, [EVENTS], protocol="3.1.1", client_id="watcher", persistent_session=True)
    with PUBLISHERS[delivery](mqtt_config(broker)) as publisher:
        publisher.wait_connected(5)
        sent = _run_outage(broker, recorder, publisher, outage_s)
        stats = publisher.stats()
    assert stats["disconnects"] >= 1 and stats["connects"] >= 2
    assert sent > 200 * outage_s * 0.8, "the producer kept going during the outage"
    assert recorder.wait_for(lambda m: {x.json()["seq"] for x in m} >= set(range(1, sent + 1)), 20), (
        f"missing: {sorted(set(range(1, sent + 1)) - {x.json()['seq'] for x in recorder.messages})[:20]}"
    )
    for message in recorder.messages:
        result_validator.validate(message.json())


@both_deliveries
def test_outbox_replays_after_the_process_is_killed_during_an_outage(make_broker, recorder_for, tmp_path,
                                                                     mqtt_config, result_validator,
                                                                     delivery: str) -> None:
    broker = make_broker(persistence=True)
    recorder = recorder_for(broker, [EVENTS], protocol="3.1.1", client_id="watcher", persistent_session=True)
    device = Device(tmp_path, _config_dict(broker, tmp_path), delivery)
    children = device.delivery_pids()
    assert len(children) == (1 if delivery == "process" else 0)
    try:
        assert device.publish(30) == 30  # delivered live
        broker.stop()
        assert device.publish(70) == 100  # only in the outbox: the broker is down
    finally:
        device.kill()
    _wait_gone(children)  # a delivery process commits what it holds and frees the outbox
    broker.start()

    with PUBLISHERS[delivery](mqtt_config(broker)) as restarted:
        restarted.wait_connected(5)
        assert restarted.flush(10)
        replayed = restarted.stats()["replayed"]
        assert restarted.stats()["outbox"]["recovered"] >= 70
    assert replayed >= 70

    def complete(messages) -> bool:
        return {m.json()["seq"] for m in messages if m.json()["boot"] == device.boot} >= set(range(1, 101))

    assert recorder.wait_for(complete, 10)
    for message in recorder.messages:
        result_validator.validate(message.json())
    by_seq = {}
    for message in recorder.messages:
        payload = message.json()
        by_seq.setdefault(payload["seq"], []).append(payload)
    assert all(any(p["replayed"] for p in by_seq[seq]) for seq in range(31, 101))
    assert not any(p["replayed"] for seq in range(1, 31) for p in by_seq[seq])


@both_deliveries
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_last_will_says_offline_when_the_process_is_killed(broker, recorder_for, tmp_path, delivery: str,
                                                           protocol: str) -> None:
    recorder = recorder_for(broker, ["edge_sdk/pi-test/available"])
    device = Device(tmp_path, {**_config_dict(broker, tmp_path), "protocol": protocol}, delivery)
    children = device.delivery_pids()
    try:
        assert device.publish(10) == 10
        assert recorder.wait_for(lambda m: [x.payload for x in m] == [b"online"], 5)
    finally:
        device.kill()
    assert recorder.wait_for(lambda m: [x.payload for x in m] == [b"online", b"offline"], 5), recorder.messages
    _wait_gone(children)


def _wait_gone(pids: list[int], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        while _alive(pid):
            assert time.monotonic() < deadline, f"the delivery process {pid} outlived the publishing process"
            time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie of the killed process is dead for us


@both_deliveries
def test_a_retained_snapshot_offered_during_an_outage_is_the_newest_after_it(make_broker, recorder_for, mqtt_config,
                                                                           delivery: str) -> None:
    broker = make_broker()
    with PUBLISHERS[delivery](mqtt_config(broker)) as publisher:
        publisher.wait_connected(5)
        broker.stop()
        deadline_s = time.monotonic() + 10
        while publisher.stats()["connected"] and time.monotonic() < deadline_s:
            time.sleep(0.02)
        for i in range(3):  # only the newest may reach the broker: it stands for the current frame
            assert not publisher.publish_raw("snapshot", f"frame {i}".encode(), retain=True)
        assert not publisher.publish_raw("snapshot/live", b"not retained: dropped")
        stats = publisher.stats()
        assert stats["raw_held"] == 1 and stats["raw_dropped"] == 3, stats  # 2 superseded, 1 not retained
        broker.start()
        publisher.wait_connected(10)
        deadline_s = time.monotonic() + 10
        while publisher.stats()["raw_held"] and time.monotonic() < deadline_s:
            time.sleep(0.02)
        assert publisher.publish_raw("snapshot/mask", b"sent now", retain=True)
        time.sleep(0.3)  # the publishes are QoS 0: give them the round trip before a new subscriber asks
        late = recorder_for(broker, ["edge_sdk/pi-test/snapshot/#"])  # after the outage: gets what is retained
        assert late.wait_for(lambda got: len(got) >= 2, 10), late.messages
        assert {m.topic: m.payload for m in late.messages} == {
            "edge_sdk/pi-test/snapshot": b"frame 2", "edge_sdk/pi-test/snapshot/mask": b"sent now"}
