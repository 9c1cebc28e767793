"""``edge-sdk run`` with delivery in its own process, SIGKILLed: a crash looks like a crash (issue 15).

Only the runtime's own pid is killed. Its delivery process commits what it holds, then ends the
connection so that the broker publishes the last will: subscribers see ``offline``, not the
``stopped`` of a clean exit. The next run sends every result the killed one accepted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.sinks.mqtt import Outbox
from edge_sdk.testing import MosquittoBroker, MQTTRecorder

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "pi-crash"
EVENTS = f"edge_sdk/{DEVICE}/events"
AVAILABLE = f"edge_sdk/{DEVICE}/available"


def _config(tmp_path: Path, broker: MosquittoBroker, protocol: str) -> Path:
    path = tmp_path / "device.json"
    path.write_text(json.dumps({
        "device": DEVICE,
        "camera": {"source": "seek://?seconds=600&fps=20&size=64"},
        "text": {"prompt": "find the red circle"},
        "sensor": {"source": "stdin", "max_age_s": None},
        "mqtt": {"host": broker.host, "port": broker.port, "protocol": protocol, "delivery": "process",
                 "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "outbox": {"path": str(tmp_path / "outbox.sqlite3")}},
    }))
    return path


def _start_run(config: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    assert process.stdin is not None
    process.stdin.write('{"distance_cm": 80.0}\n')
    process.stdin.flush()
    return process


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie of the killed runtime is dead for us


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _seqs(recorder: MQTTRecorder, boot: str) -> set[int]:
    return {payload["seq"] for payload in (m.json() for m in recorder.on(EVENTS)) if payload["boot"] == boot}


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_sigkilled_runtime_is_offline_and_its_results_arrive_after_a_restart(
    make_broker: Callable[..., MosquittoBroker], recorder_for: Any, tmp_path: Path, protocol: str
) -> None:
    broker = make_broker(persistence=True)
    available = recorder_for(broker, [AVAILABLE])
    events = recorder_for(broker, [EVENTS], protocol="3.1.1", client_id="watcher", persistent_session=True)
    config = _config(tmp_path, broker, protocol)
    run = _start_run(config)
    try:
        assert events.wait_for(lambda messages: len(messages) >= 20, 60.0), "no results from the run"
        children = _children(run.pid)
        assert len(children) == 1, f"expected one delivery process, found {children}"
        boot = events.on(EVENTS)[0].json()["boot"]
    finally:
        os.kill(run.pid, signal.SIGKILL)  # the runtime only: its delivery process must notice by itself
        run.wait(10)
        _, err = run.communicate(timeout=10)
    _wait(lambda: not _alive(children[0]), 10.0, "the delivery process outlived the runtime")
    assert available.wait_for(lambda m: [x.payload for x in m] == [b"online", b"offline"], 10.0), (
        [x.payload for x in available.messages], err[-2000:])
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        left = [row.seq for row in outbox.pending_after(0, 1_000_000) if row.boot == boot]
    accepted = max([*left, *_seqs(events, boot)])  # the runtime stamps 1, 2, 3...: all of them were accepted

    second = _start_run(config)
    try:
        assert events.wait_for(lambda _: _seqs(events, boot) >= set(range(1, accepted + 1)), 60.0), (
            f"missing after the restart: {sorted(set(range(1, accepted + 1)) - _seqs(events, boot))[:20]}")
        # and it runs (its own results flow) before it is asked to stop cleanly
        assert events.wait_for(lambda m: any(x.json()["boot"] != boot for x in m), 60.0)
    finally:
        second.send_signal(signal.SIGINT)
        _, second_err = second.communicate(timeout=60)
    assert second.returncode == 0, second_err[-2000:]
    assert _seqs(events, boot) == set(range(1, accepted + 1))
    payloads = [x.payload for x in available.messages]
    assert available.wait_for(lambda m: [x.payload for x in m] == [b"online", b"offline", b"online", b"stopped"],
                              10.0), payloads
    print(f"\nMQTT {protocol}: {AVAILABLE} saw {[x.payload.decode() for x in available.messages]}; "
          f"killed run accepted {accepted} results ({len(left)} left in its outbox), "
          f"{len(_seqs(events, boot))} distinct (boot, seq) of that run at the subscriber after the restart")


def test_a_runtime_sigkilled_during_an_outage_loses_nothing_its_delivery_process_held(
    make_broker: Callable[..., MosquittoBroker], recorder_for: Any, tmp_path: Path
) -> None:
    broker = make_broker(persistence=True)
    events = recorder_for(broker, [EVENTS], protocol="3.1.1", client_id="watcher", persistent_session=True)
    config = _config(tmp_path, broker, "5")
    run = _start_run(config)
    try:
        assert events.wait_for(lambda messages: len(messages) >= 10, 60.0), "no results from the run"
        children = _children(run.pid)
        boot = events.on(EVENTS)[0].json()["boot"]
        broker.stop()
        time.sleep(2.0)  # the outage: about 40 results (20 fps) go to the outbox only
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait(10)
        run.communicate(timeout=10)
    _wait(lambda: not any(map(_alive, children)), 10.0, "the delivery process outlived the runtime")
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:  # free: the delivery process closed it
        left = [row.seq for row in outbox.pending_after(0, 1_000_000) if row.boot == boot]
    assert len(left) >= 10, f"the outage should have left results in the outbox, found {len(left)}"
    broker.start()
    accepted = max([*left, *_seqs(events, boot)])

    second = _start_run(config)
    try:
        assert events.wait_for(lambda _: _seqs(events, boot) >= set(range(1, accepted + 1)), 60.0), (
            f"missing after the restart: {sorted(set(range(1, accepted + 1)) - _seqs(events, boot))[:20]}")
        assert events.wait_for(lambda m: any(x.json()["boot"] != boot for x in m), 60.0)
    finally:
        second.send_signal(signal.SIGINT)
        _, second_err = second.communicate(timeout=60)
    assert second.returncode == 0, second_err[-2000:]
    replayed = [m.json() for m in events.on(EVENTS) if m.json()["boot"] == boot and m.json()["seq"] in set(left)]
    assert replayed and all(payload["replayed"] for payload in replayed)
    print(f"\nkilled during an outage: accepted {accepted}, {len(left)} in its outbox, "
          f"{len(_seqs(events, boot))} distinct (boot, seq) of that run at the subscriber after the restart")
