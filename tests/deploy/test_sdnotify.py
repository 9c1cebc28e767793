"""sd_notify against real AF_UNIX datagram sockets, as systemd creates them for Type=notify units."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_sdk.deploy import sdnotify
from edge_sdk.deploy.sdnotify import Notifier, Watchdog, watchdog_interval_s


class NotifySocket:
    """The receiving end systemd would hold: a bound datagram socket and its $NOTIFY_SOCKET spelling."""

    def __init__(self, bind_address: str, env_value: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_address)
        self.sock.settimeout(5.0)
        self.env = {"NOTIFY_SOCKET": env_value}

    def receive(self) -> str:
        return self.sock.recv(4096).decode()

    def pending(self) -> list[str]:
        messages = []
        self.sock.setblocking(False)
        try:
            while True:
                messages.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(5.0)
        return messages


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    path = str(tmp_path / "notify.sock")
    receiver = NotifySocket(path, path)
    yield receiver
    receiver.sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[NotifySocket]:
    name = f"edge-sdk-test-{uuid.uuid4().hex}"
    receiver = NotifySocket("\0" + name, "@" + name)
    yield receiver
    receiver.sock.close()


def test_ready_reaches_a_socket_path_with_status(path_socket: NotifySocket) -> None:
    assert sdnotify.ready("model loaded", environ=path_socket.env) is True
    assert path_socket.receive() == "READY=1\nSTATUS=model loaded"


def test_notifications_reach_the_abstract_namespace(abstract_socket: NotifySocket) -> None:
    assert sdnotify.ready(environ=abstract_socket.env)
    assert sdnotify.watchdog(environ=abstract_socket.env)
    assert sdnotify.status("fps=14.8", environ=abstract_socket.env)
    assert sdnotify.stopping(environ=abstract_socket.env)
    received = [abstract_socket.receive() for _ in range(4)]
    assert received == ["READY=1", "WATCHDOG=1", "STATUS=fps=14.8", "STOPPING=1"]


def test_status_text_cannot_forge_other_fields(path_socket: NotifySocket) -> None:
    sdnotify.status("ok\nREADY=1", environ=path_socket.env)
    assert path_socket.receive() == "STATUS=ok READY=1"


def test_everything_is_a_no_op_outside_systemd() -> None:
    assert sdnotify.ready(environ={}) is False
    assert sdnotify.watchdog(environ={}) is False
    assert sdnotify.stopping(environ={}) is False
    watchdog = Watchdog.from_environment({})
    assert not watchdog.enabled
    assert watchdog.kick() is False


def test_a_vanished_socket_is_reported_once_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(str(tmp_path / "gone.sock"))
    with caplog.at_level(logging.WARNING, logger="edge_sdk.deploy.sdnotify"):
        assert notifier.send("WATCHDOG=1") is False
        assert notifier.send("WATCHDOG=1") is False
    notifier.close()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "gone.sock failed" in warnings[0]


def test_watchdog_interval_follows_systemd_rules() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    # inherited by a child process: the watchdog belongs to the parent
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({}) is None


def test_watchdog_pings_at_half_the_interval_and_no_more(path_socket: NotifySocket) -> None:
    now_s = [100.0]
    watchdog = Watchdog(10.0, Notifier(path_socket.env["NOTIFY_SOCKET"]), clock=lambda: now_s[0])
    sent = []
    for step in range(200):  # 20 s of results at 10 per second
        now_s[0] = 100.0 + step * 0.1
        sent.append(watchdog.kick())
    watchdog.close()
    messages = path_socket.pending()
    # t = 0, 5, 10, 15 s: every 5 s (half of WatchdogSec=10), never in between
    assert messages == ["WATCHDOG=1"] * 4
    assert [i for i, was_sent in enumerate(sent) if was_sent] == [0, 50, 100, 150]
    assert watchdog.pings == 4


def test_watchdog_status_is_computed_only_when_a_ping_is_due(path_socket: NotifySocket) -> None:
    now_s = [0.0]
    calls = []

    def status_text() -> str:
        calls.append(now_s[0])
        return f"results={len(calls)}"

    with Watchdog(2.0, Notifier(path_socket.env["NOTIFY_SOCKET"]), clock=lambda: now_s[0]) as watchdog:
        for step in range(30):
            now_s[0] = step * 0.1
            watchdog.kick(status_text)
    assert calls == [0.0, 1.0, 2.0]
    assert path_socket.pending() == ["WATCHDOG=1\nSTATUS=results=1", "WATCHDOG=1\nSTATUS=results=2",
                                     "WATCHDOG=1\nSTATUS=results=3"]


def test_watchdog_kick_is_cheap_when_not_due(path_socket: NotifySocket) -> None:
    watchdog = Watchdog(3600.0, Notifier(path_socket.env["NOTIFY_SOCKET"]))
    watchdog.kick()
    started = time.perf_counter()
    for _ in range(100_000):
        watchdog.kick()
    elapsed_s = time.perf_counter() - started
    watchdog.close()
    assert path_socket.pending() == ["WATCHDOG=1"]
    # about 0.2 us per call here; the bound is loose for a loaded CI machine
    assert elapsed_s < 1.0, f"100k kicks took {elapsed_s:.3f} s"


def test_a_child_process_under_a_notify_socket_reports_ready_watchdog_and_stopping(
    abstract_socket: NotifySocket,
) -> None:
    # What the runtime does under systemd, in a separate process that only has the environment.
    child = (
        "import time\n"
        "from edge_sdk.deploy import sdnotify\n"
        "sdnotify.ready('started')\n"
        "watchdog = sdnotify.Watchdog.from_environment()\n"
        "assert watchdog.enabled and watchdog.ping_every_s == 0.1, watchdog.ping_every_s\n"
        "deadline = time.monotonic() + 0.35\n"
        "while time.monotonic() < deadline:\n"
        "    watchdog.kick()\n"
        "    time.sleep(0.001)\n"
        "sdnotify.stopping()\n"
    )
    env = {**os.environ, **abstract_socket.env, "WATCHDOG_USEC": "200000"}
    env.pop("WATCHDOG_PID", None)
    subprocess.run([sys.executable, "-c", child], env=env, check=True, timeout=60)
    messages = [abstract_socket.receive()]
    while messages[-1] != "STOPPING=1":
        messages.append(abstract_socket.receive())
    assert messages[0] == "READY=1\nSTATUS=started"
    pings = messages[1:-1]
    assert set(pings) == {"WATCHDOG=1"} and 2 <= len(pings) <= 5, messages


def test_edge_sdk_run_under_systemd_reports_ready_pings_the_watchdog_and_says_stopping(
    abstract_socket: NotifySocket, tmp_path: Path
) -> None:
    """The real runtime, as a systemd Type=notify service would run it."""
    config = tmp_path / "device.yaml"
    config.write_text(
        "device: sd-test\n"
        "camera: {source: 'seek://?seconds=600&fps=20&size=64'}\n"
        "text: {prompt: find the red circle}\n"
        "sensor: {source: stdin, max_age_s: null}\n"
        "embedded_broker: {enabled: false}\n"
    )
    env = {**os.environ, **abstract_socket.env, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    readings = "".join('{"distance_cm": 80}\n' for _ in range(40))
    process = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config), "--max-frames", "30"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    _, err = process.communicate(readings, timeout=60)
    assert process.returncode == 0, err
    messages = [abstract_socket.receive()]
    while messages[-1] != "STOPPING=1":
        messages.append(abstract_socket.receive())
    assert messages[0].startswith("READY=1\nSTATUS=running model seek")
    assert all(m.startswith("WATCHDOG=1") for m in messages[1:-1])
