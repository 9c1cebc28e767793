"""The SQLite outbox on its own: durability across reopen, bounds, drop policies, exclusivity."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt import MQTTPublisher, Outbox
from edge_sdk.testing import example_result

PAYLOAD = b"x" * 100


def test_messages_survive_closing_and_reopening(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        ids = [outbox.append("b" * 32, seq, "t/events", PAYLOAD) for seq in range(1, 6)]
        outbox.remove(ids[:2])
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        rows = outbox.pending_after(0, 100)
        assert [r.seq for r in rows] == [3, 4, 5]
        assert outbox.recovered == 3 and outbox.pending_bytes == 300
        assert outbox.append("c" * 32, 1, "t/events", PAYLOAD) == ids[-1] + 1  # ids keep growing


def test_committed_messages_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    child = (
        "import os, signal, sys\n"
        "from edge_sdk.sinks.mqtt import Outbox\n"
        f"outbox = Outbox({str(path)!r}).open()\n"
        "for seq in range(1, 1001):\n"
        "    outbox.append('b' * 32, seq, 't/events', b'x' * 100)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", child], check=False)
    assert result.returncode == -9
    with Outbox(path) as outbox:
        assert len(outbox) == 1000
        assert [r.seq for r in outbox.pending_after(0, 2000)] == list(range(1, 1001))


def test_drop_oldest_keeps_the_bound_and_counts(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_bytes=1024, drop_policy="drop_oldest") as outbox:
        for seq in range(1, 21):
            assert outbox.append("b" * 32, seq, "t", PAYLOAD) is not None
        assert outbox.pending_bytes <= 1024
        assert len(outbox) == 10 and outbox.dropped_oldest == 10
        assert [r.seq for r in outbox.pending_after(0, 100)] == list(range(11, 21))


def test_reject_new_keeps_the_oldest_and_counts(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_bytes=1024, drop_policy="reject_new") as outbox:
        accepted = [outbox.append("b" * 32, seq, "t", PAYLOAD) for seq in range(1, 21)]
        assert accepted.count(None) == 10 and outbox.rejected_new == 10
        assert [r.seq for r in outbox.pending_after(0, 100)] == list(range(1, 11))


def test_old_messages_expire_and_are_counted(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_age_s=60) as outbox:
        now = time.time()
        for seq in range(1, 4):
            outbox.append("b" * 32, seq, "t", PAYLOAD, created_s=now - 120)
        outbox.append("b" * 32, 4, "t", PAYLOAD, created_s=now)
        assert outbox.expire(now) == 3
        assert outbox.expired == 3 and [r.seq for r in outbox.pending_after(0, 10)] == [4]
        assert outbox.expire(now) == 0


def test_a_second_process_cannot_share_an_outbox(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3"):
        child = (
            "from edge_sdk.sinks.mqtt import Outbox\n"
            f"Outbox({str(tmp_path / 'o.sqlite3')!r}).open()\n"
        )
        result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert f"another edge-sdk run holds the outbox at {tmp_path / 'o.sqlite3'} (pid {os.getpid()})" in result.stderr
    assert "its own device id or mqtt.outbox.path" in result.stderr


def test_a_corrupt_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(PublishError, match=r"outbox .*o\.sqlite3 is not a readable SQLite database"):
        Outbox(path).open()


@pytest.mark.broker
def test_publisher_outbox_bound_applies_during_an_outage(make_broker, mqtt_config) -> None:
    broker = make_broker()
    config = mqtt_config(broker, outbox={"max_bytes": 20_000, "drop_policy": "drop_oldest"})
    with MQTTPublisher(config) as publisher:
        publisher.wait_connected(5)
        broker.stop()
        deadline = time.monotonic() + 5
        while publisher.stats()["connected"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for i in range(200):
            publisher.publish_result(example_result(i))
        outbox = publisher.stats()["outbox"]
        assert outbox["pending_bytes"] <= 20_000
        assert outbox["dropped_oldest"] > 0
        assert outbox["pending"] + outbox["dropped_oldest"] == 200
        broker.start()
        assert publisher.flush(10)
