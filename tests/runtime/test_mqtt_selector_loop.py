"""The delivery process's selector loop: paho, the outbox and the runtime's socket on one thread.

Against a real Mosquitto, real process deaths and real sockets: a broker restarted mid-stream, a
network that stalls (a relay that stops forwarding), a connect stuck in a TLS handshake, a broker
that is not there at close. Results are counted at a real subscriber.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge_sdk.sinks.mqtt import Outbox
from edge_sdk.sinks.mqtt.process import DeliveryChild, PublisherProcess
from edge_sdk.testing import example_result

pytestmark = pytest.mark.broker

EVENTS = "edge_sdk/pi-test/events"
AVAILABLE = "edge_sdk/pi-test/available"


def _threads(pid: int) -> list[str]:
    """The thread ids of a process."""
    return os.listdir(f"/proc/{pid}/task")


def _seqs(recorder, boot: str) -> set[int]:
    return {m.json()["seq"] for m in recorder.on(EVENTS) if m.json()["boot"] == boot}


class Relay:
    """TCP from the client to the broker; :meth:`pause` stops forwarding both ways (a stalled network:
    PUBLISH packets leave the client, no PUBACK comes back)."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, name="test-relay", daemon=True).start()

    def pause(self) -> None:
        self._forwarding.clear()

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            broker = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, broker]
            for source, sink in ((client, broker), (broker, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                self._forwarding.wait()  # paused: hold what came, forward nothing
                if not data or not self._forwarding.is_set():
                    return
                sink.sendall(data)
            except OSError:
                return


def test_the_delivery_process_drives_paho_from_one_thread(broker, recorder_for, mqtt_config) -> None:
    recorder = recorder_for(broker, [EVENTS])
    with PublisherProcess(mqtt_config(broker)) as publisher:
        publisher.wait_connected(5)
        publisher.publish_results([example_result(i) for i in range(500)])
        assert publisher.flush(10)
        threads = _threads(publisher.stats()["delivery_pid"])
    assert len(threads) == 1, threads  # no paho network thread, no outbox thread
    assert recorder.wait_for(lambda _: _seqs(recorder, publisher.boot) == set(range(1, 501)), 10)


def test_a_broker_restart_mid_stream_loses_nothing_and_never_blocks_the_caller(
    make_broker, recorder_for, mqtt_config
) -> None:
    broker = make_broker(persistence=True)
    recorder = recorder_for(broker, [EVENTS], protocol="3.1.1", client_id="watcher", persistent_session=True)
    slowest_call_s = 0.0
    with PublisherProcess(mqtt_config(broker)) as publisher:
        publisher.wait_connected(5)

        def produce(count: int) -> None:
            nonlocal slowest_call_s
            for i in range(count):
                started_s = time.monotonic()
                publisher.publish_result(example_result(i))
                slowest_call_s = max(slowest_call_s, time.monotonic() - started_s)
                time.sleep(1 / 300)

        produce(150)
        broker.stop()
        produce(450)  # about 1.5 s without a broker: reconnect attempts with backoff meanwhile
        during = publisher.stats()
        broker.start()
        produce(150)
        assert publisher.flush(20), publisher.stats()
        stats = publisher.stats()
        threads = _threads(stats["delivery_pid"])
    assert not during["connected"] and during["connect_failures"] >= 1, during
    assert stats["disconnects"] >= 1 and stats["connects"] >= 2, stats
    assert len(threads) == 1, threads  # the connect thread ended with its attempt
    assert slowest_call_s < 0.1, f"publish_result waited {slowest_call_s:.3f} s during the outage"
    assert recorder.wait_for(lambda _: _seqs(recorder, publisher.boot) >= set(range(1, 751)), 20), (
        sorted(set(range(1, 751)) - _seqs(recorder, publisher.boot))[:20])


def test_a_sigkilled_delivery_process_with_results_in_flight_replays_them_after_a_restart(
    broker, recorder_for, mqtt_config
) -> None:
    recorder = recorder_for(broker, [EVENTS])
    relay = Relay(broker.port)
    child = PublisherProcess.spawn()
    publisher = PublisherProcess(mqtt_config(broker, port=relay.port), child=child).start()
    try:
        publisher.wait_connected(5)
        publisher.publish_results([example_result(i) for i in range(20)])
        assert publisher.flush(10)
        relay.pause()
        publisher.publish_results([example_result(i) for i in range(100)])
        deadline = time.monotonic() + 5
        while publisher.stats()["inflight"] == 0:  # the stats call also comes after every result is committed
            assert time.monotonic() < deadline, "nothing handed to paho"
            time.sleep(0.01)
        assert publisher.stats()["outbox"]["pending"] == 100
        os.kill(child.process.pid, signal.SIGKILL)
        child.process.wait(5)
    finally:
        publisher.close()
        relay.close()
    with PublisherProcess(mqtt_config(broker)) as restarted:
        restarted.wait_connected(5)
        assert restarted.flush(10)
        stats = restarted.stats()
    assert stats["outbox"]["recovered"] == 100 and stats["replayed"] == 100, stats

    def replayed(seq: int) -> bool:
        return any(m.json()["replayed"] for m in recorder.on(EVENTS) if m.json()["seq"] == seq
                   and m.json()["boot"] == publisher.boot)

    assert recorder.wait_for(lambda _: _seqs(recorder, publisher.boot) == set(range(1, 121)), 10)
    assert all(replayed(seq) for seq in range(21, 121))
    assert not any(replayed(seq) for seq in range(1, 21))


def test_close_with_the_broker_gone_returns_within_the_drain_timeout(make_broker, mqtt_config, tmp_path: Path) -> None:
    broker = make_broker()
    broker.stop()  # nothing listens on its port: every attempt is refused
    config = mqtt_config(broker)
    child = PublisherProcess.spawn()
    publisher = PublisherProcess(config, child=child).start()
    publisher.publish_results([example_result(i) for i in range(50)])
    time.sleep(2.0)
    stats = publisher.stats()
    started_s = time.monotonic()
    publisher.close(drain_timeout_s=1.0)
    assert time.monotonic() - started_s < 4.0
    assert child.process.returncode == 0
    # reconnect_min_s 0.1 doubling to reconnect_max_s 0.5: about 6 attempts in 2 s, not a busy loop
    assert 3 <= stats["connect_failures"] <= 15, stats
    assert "nothing accepts MQTT connections" in stats["last_error"], stats
    with Outbox(config.outbox.resolved_path(config.device_id)) as outbox:
        assert len(outbox) == 50


def test_a_connect_stuck_in_a_handshake_does_not_stall_requests_or_close(mqtt_config, broker) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts TCP (the backlog), never says a word
    try:
        config = mqtt_config(broker, port=silent.getsockname()[1], tls={"enabled": True})
        child = PublisherProcess.spawn()
        publisher = PublisherProcess(config, child=child).start()
        time.sleep(0.3)  # the TLS handshake is under way, and waits for paho's connect_timeout (5 s)
        publisher.publish_results([example_result(i) for i in range(200)])
        started_s = time.monotonic()
        stats = publisher.stats()
        assert time.monotonic() - started_s < 1.0, "the delivery process stopped answering"
        assert stats["accepted"] == 200 and stats["outbox"]["pending"] == 200 and not stats["connected"], stats
        started_s = time.monotonic()
        publisher.close(drain_timeout_s=0.5)
        assert time.monotonic() - started_s < 5.0
        assert child.process.returncode == 0
    finally:
        silent.close()


def test_clean_close_says_stopped_and_the_delivery_process_exits_0(broker, recorder_for, mqtt_config) -> None:
    recorder = recorder_for(broker, [AVAILABLE])
    child: DeliveryChild = PublisherProcess.spawn()
    with PublisherProcess(mqtt_config(broker, protocol="3.1.1"), child=child) as publisher:
        publisher.wait_connected(5)
        publisher.publish_results([example_result(i) for i in range(10)])
    assert child.process.returncode == 0
    assert recorder.wait_for(lambda m: [x.payload for x in m] == [b"online", b"stopped"], 5), recorder.messages


def test_keepalive_pings_keep_an_idle_connection(broker, mqtt_config) -> None:
    with PublisherProcess(mqtt_config(broker, keepalive_s=1)) as publisher:
        publisher.wait_connected(5)
        time.sleep(3.5)  # Mosquitto drops a client silent for 1.5 keepalives
        stats = publisher.stats()
    assert stats["connected"] and stats["disconnects"] == 0 and stats["connects"] == 1, stats


def test_the_retained_result_is_refreshed_at_a_rate_and_ends_on_the_newest(broker, recorder_for, mqtt_config) -> None:
    recorder = recorder_for(broker, ["edge_sdk/pi-test/result", EVENTS])
    with PublisherProcess(mqtt_config(broker, retain_interval_s=0.3)) as publisher:
        publisher.wait_connected(5)
        started_s = time.monotonic()
        for i in range(60):  # 60 results over about 0.6 s
            publisher.publish_result(example_result(i))
            time.sleep(0.01)
        elapsed_s = time.monotonic() - started_s
        assert recorder.wait_for(lambda _: len(recorder.on(EVENTS)) >= 60, 5)
        assert recorder.wait_for(lambda _: any(m.json()["seq"] == 60 for m in recorder.on("edge_sdk/pi-test/result")),
                                 2)  # the newest follows within the interval, without another result
    retained = [m.json()["seq"] for m in recorder.on("edge_sdk/pi-test/result")]
    assert retained[-1] == 60 and retained == sorted(retained)
    assert len(retained) <= elapsed_s / 0.3 + 2, retained


def test_sigterm_to_the_run_drains_says_stopped_and_leaves_an_empty_outbox(
    make_broker, recorder_for, tmp_path: Path
) -> None:
    """systemd's stop: SIGTERM to the whole process group. The delivery process ignores it; the
    runtime stops the pipeline and closes delivery, which drains before it says ``stopped``."""
    broker = make_broker(persistence=True)
    available = recorder_for(broker, ["edge_sdk/pi-term/available"])
    events = recorder_for(broker, ["edge_sdk/pi-term/events"], protocol="3.1.1", client_id="watcher",
                          persistent_session=True)
    config = tmp_path / "device.json"
    config.write_text(json.dumps({
        "device": "pi-term",
        "camera": {"source": "seek://?seconds=600&fps=20&size=64"},
        "text": {"prompt": "find the red circle"},
        "sensor": {"source": "stdin", "max_age_s": None},
        "mqtt": {"host": broker.host, "port": broker.port, "delivery": "process", "reconnect_min_s": 0.1,
                 "reconnect_max_s": 0.5, "outbox": {"path": str(tmp_path / "outbox.sqlite3")}},
    }))
    run = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    try:
        assert run.stdin is not None
        run.stdin.write('{"distance_cm": 80.0}\n')
        run.stdin.flush()
        assert events.wait_for(lambda messages: len(messages) >= 20, 60.0), "no results from the run"
        children = [int(pid) for pid in Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()]
        assert len(children) == 1 and len(_threads(children[0])) == 1, children
        os.killpg(run.pid, signal.SIGTERM)
        _, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err[-2000:]
    assert available.wait_for(lambda m: [x.payload for x in m] == [b"online", b"stopped"], 10.0), available.messages
    boot = events.on("edge_sdk/pi-term/events")[0].json()["boot"]
    seqs = {m.json()["seq"] for m in events.on("edge_sdk/pi-term/events") if m.json()["boot"] == boot}
    assert seqs == set(range(1, max(seqs) + 1))
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        assert len(outbox) == 0  # everything the run accepted was delivered before 'stopped'
