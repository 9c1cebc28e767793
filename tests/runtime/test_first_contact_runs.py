"""``edge-sdk run`` as a first-time user meets it, in real processes against a real Mosquitto (issue 14).

The end-of-run summary says what reached the broker, and a second run for the same device says in
one line which run holds the outbox.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.testing import MosquittoBroker

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, broker: MosquittoBroker, device: str, name: str = "device.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({
        "device": device,
        "camera": {"source": "seek://?seconds=600&fps=20&size=64"},
        "text": {"prompt": "find the red circle"},
        "sensor": {"source": "stdin", "max_age_s": None},
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
                 "outbox": {"path": str(tmp_path / "outbox.sqlite3")}},
    }))
    return path


def _start_run(config: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    assert process.stdin is not None
    process.stdin.write('{"distance_cm": 80.0}\n')
    process.stdin.flush()
    return process


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_the_summary_says_what_the_broker_never_got(make_broker: Callable[..., MosquittoBroker],
                                                     recorder_for: Any, tmp_path: Path) -> None:
    broker = make_broker()
    recorder = recorder_for(broker, ["edge_sdk/pi-outage/events"])
    process = _start_run(_config(tmp_path, broker, "pi-outage"))
    try:
        assert recorder.wait_for(lambda messages: len(messages) >= 5, 30.0), process.stderr
        broker.stop()  # the broker goes away before the run ends: results pile up in the outbox
        time.sleep(2.0)
    finally:
        _, err = _stop(process)
    assert process.returncode == 0, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    published = int(re.search(r"edge-sdk run: results=\d+ published=(\d+)", err).group(1))  # type: ignore[union-attr]
    found = re.search(r"edge-sdk run: mqtt delivered=(\d+) pending=(\d+) dropped=(\d+) \((.*)\)", err)
    assert found, err[-2000:]
    delivered, pending, dropped = map(int, found.groups()[:3])
    assert delivered >= 5
    assert pending > 0
    assert delivered + pending + dropped == published
    assert str(tmp_path / "outbox.sqlite3") in found.group(4)


def test_a_second_run_for_the_same_device_says_who_holds_the_outbox(make_broker: Callable[..., MosquittoBroker],
                                                                     recorder_for: Any, tmp_path: Path) -> None:
    broker = make_broker()
    recorder = recorder_for(broker, ["edge_sdk/pi-twice/events"])
    first = _start_run(_config(tmp_path, broker, "pi-twice", "first.json"))
    try:
        assert recorder.wait_for(lambda messages: len(messages) >= 1, 30.0)
        second = _start_run(_config(tmp_path, broker, "pi-twice", "second.json"))
        try:
            _, err = second.communicate(timeout=60)  # it must end by itself
        finally:
            _stop(second)
    finally:
        _stop(first)
    assert second.returncode == 2, err[-2000:]
    assert "Traceback" not in err, err
    assert "exited unexpectedly" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("edge-sdk run:")]
    expected = (f"edge-sdk run: another edge-sdk run for device pi-twice holds the outbox at "
                f"{tmp_path / 'outbox.sqlite3'} (pid {first.pid}): stop it, or give this run its own device id or "
                "mqtt.outbox.path")
    assert lines == [expected], err
