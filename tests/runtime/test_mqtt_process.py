"""PublisherProcess: delivery from a child process, against a real Mosquitto and real process deaths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt import MQTTConfig, Outbox
from edge_sdk.sinks.mqtt.process import PublisherProcess
from edge_sdk.testing import example_result

pytestmark = pytest.mark.broker

EVENTS = "edge_sdk/pi-test/events"


def test_results_stats_and_commands_cross_the_process_boundary(
    broker, recorder_for, mqtt_config, result_validator, stats_validator
) -> None:
    recorder = recorder_for(broker, ["edge_sdk/pi-test/#"])
    commands: list[str] = []
    with PublisherProcess(mqtt_config(broker)) as publisher:
        publisher.on_command("text", commands.append, payload_format="text")
        publisher.add_stats_section("actions", lambda: {"sent": 3})
        publisher.wait_connected(5)
        seqs = publisher.publish_results([example_result(i) for i in range(150)])
        assert publisher.flush(10)
        assert publisher.publish_stats({"fps": 30.0})
        recorder.client.publish("edge_sdk/pi-test/cmd/text", b"find the red circle", qos=1)
        recorder.client.publish("edge_sdk/pi-test/cmd/nope!", b"x", qos=1)
        deadline = time.monotonic() + 5
        while publisher.stats()["commands"].get("rejected", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = publisher.stats()
        child_pid = stats["delivery_pid"]
        boot = publisher.boot
    assert child_pid != os.getpid()
    assert seqs == list(range(1, 151))
    assert commands == ["find the red circle"]
    assert stats["commands"]["handled"] == 1 and stats["commands"]["rejected"] == 1
    assert stats["acked"] == 150 and stats["outbox"]["pending"] == 0
    assert recorder.wait_for(lambda _: len(recorder.on(EVENTS)) >= 150 and recorder.on("edge_sdk/pi-test/stats"), 5)
    events = [m.json() for m in recorder.on(EVENTS)]
    for event in events:
        result_validator.validate(event)
    assert [e["seq"] for e in events] == seqs and {e["boot"] for e in events} == {boot}
    published_stats = recorder.on("edge_sdk/pi-test/stats")[0].json()
    stats_validator.validate(published_stats)
    assert published_stats["fps"] == 30.0 and published_stats["actions"] == {"sent": 3}
    assert published_stats["mqtt"]["connected"] is True
    assert recorder.wait_for(lambda _: [m.payload for m in recorder.on("edge_sdk/pi-test/available")][-1:] == [b"stopped"],
                             5)


_PARENT = textwrap.dedent("""
    import json, sys, time
    from edge_sdk.configtools import build
    from edge_sdk.sinks.mqtt import MQTTConfig
    from edge_sdk.sinks.mqtt.process import PublisherProcess
    from edge_sdk.testing import example_result
    config = build(MQTTConfig, json.loads(sys.argv[1]), "mqtt")
    publisher = PublisherProcess(config).start()
    for start in range(0, 500, 50):
        publisher.publish_results([example_result(i) for i in range(start, start + 50)])
    print(json.dumps({"child": publisher.stats()["delivery_pid"], "boot": publisher.boot}), flush=True)
    time.sleep(60)  # killed here
""")


def test_a_killed_runtime_leaves_every_result_it_handed_over_in_the_outbox(tmp_path: Path) -> None:
    """SIGKILL of the parent while nothing accepts connections: the child reads what is left in the
    socket, commits it and exits at once, so the outbox is complete and free for the next run."""
    outbox_path = tmp_path / "outbox.sqlite3"
    config = {"device_id": "pi-test", "host": "127.0.0.1", "port": 9, "reconnect_min_s": 0.1,
              "reconnect_max_s": 0.2, "outbox": {"path": str(outbox_path)}}
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, json.dumps(config)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    assert parent.stdout is not None
    started = json.loads(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(5)
    deadline = time.monotonic() + 10
    while _alive(started["child"]):
        assert time.monotonic() < deadline, "the delivery process outlived its parent"
        time.sleep(0.02)
    with Outbox(outbox_path) as outbox:
        rows = outbox.pending_after(0, 1000)
    assert [row.seq for row in rows] == list(range(1, 501))
    assert {row.boot for row in rows} == {started["boot"]}


def test_a_dead_delivery_process_stops_publishing_with_a_clear_error(broker, mqtt_config) -> None:
    publisher = PublisherProcess(mqtt_config(broker)).start()
    try:
        publisher.wait_connected(5)
        os.kill(publisher.stats()["delivery_pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        with pytest.raises(PublishError, match=r"MQTT delivery process (exited unexpectedly|is gone)"):
            while time.monotonic() < deadline:
                publisher.publish_results([example_result(0)])
                time.sleep(0.01)
    finally:
        publisher.close()


def test_the_child_refuses_to_run_by_hand() -> None:
    done = subprocess.run([sys.executable, "-m", "edge_sdk.sinks.mqtt.delivery_child"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2 and "started by PublisherProcess" in done.stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose (its parent, the killed runtime, cannot reap it)
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_delivery_auto_means_a_process_only_with_two_cpus_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert MQTTConfig(device_id="d").delivery_in_process is True
    assert MQTTConfig(device_id="d", delivery="threads").delivery_in_process is False
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # taskset -c 0: one core, threads are faster
    assert MQTTConfig(device_id="d").delivery_in_process is False
    assert MQTTConfig(device_id="d", delivery="process").delivery_in_process is True


def test_a_spawned_child_that_is_never_started_ends_with_close() -> None:
    child = PublisherProcess.spawn()
    publisher = PublisherProcess(MQTTConfig(device_id="d"), child=child)
    publisher.close()
    assert child.process.poll() == 0
