"""PortReader against a fake port and a recording protocol: the thread's contract, without a pty."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import pytest

from firmware_bridge.errors import LinkDownError, LinkError
from firmware_bridge.link.reader import PortReader


class FakePort:
    """Reads what the test puts in (bytes, or an exception to raise), with a short read timeout."""

    def __init__(self) -> None:
        self.incoming: queue.Queue[bytes | Exception] = queue.Queue()
        self.written: list[bytes] = []
        self.closed = False
        self.in_waiting = 0

    def read(self, size: int) -> bytes:
        try:
            item = self.incoming.get(timeout=0.01)
        except queue.Empty:
            return b""
        if isinstance(item, Exception):
            raise item
        return item

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


class RecordingProtocol:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.tick_error: LinkError | None = None
        self._lock = threading.Lock()

    def _record(self, name: str, arg: object = None) -> None:
        with self._lock:
            self.calls.append((name, arg))

    def names(self) -> list[str]:
        with self._lock:
            return [name for name, _ in self.calls]

    def connection_made(self) -> None:
        self._record("made")

    def data_received(self, data: bytes) -> None:
        self._record("data", data)

    def tick(self) -> None:
        error, self.tick_error = self.tick_error, None
        if error is not None:
            raise error

    def connection_lost(self, exc: BaseException | None) -> None:
        self._record("lost", exc)

    def lost(self) -> list[BaseException | None]:
        with self._lock:
            return [arg for name, arg in self.calls if name == "lost"]  # type: ignore[misc]


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


class Reopener:
    """Hands out new FakePorts; raises LinkError for the first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.ports: list[FakePort] = []

    def __call__(self) -> FakePort:
        self.calls += 1
        if self.calls <= self.failures:
            raise LinkError("cannot open /dev/ttyFAKE: No such file or directory")
        self.ports.append(FakePort())
        return self.ports[-1]


@pytest.fixture
def protocol() -> RecordingProtocol:
    return RecordingProtocol()


def make_reader(protocol: RecordingProtocol, reopen: Reopener, *, reconnect: bool = True) -> PortReader:
    return PortReader(
        "/dev/ttyFAKE",
        protocol,
        reopen,
        reconnect=reconnect,
        reconnect_interval_s=0.01,
        thread_name="test-reader",
    )


def test_bytes_are_handed_over_in_order_and_stop_reports_a_clean_close(protocol: RecordingProtocol) -> None:
    port = FakePort()
    reader = make_reader(protocol, Reopener())
    reader.start(port)
    port.incoming.put(b"\x01\x02")
    port.incoming.put(b"\x03")
    wait_until(lambda: protocol.names().count("data") == 2)
    reader.write(b"hello")
    reader.stop()
    assert protocol.calls == [("made", None), ("data", b"\x01\x02"), ("data", b"\x03"), ("lost", None)]
    assert port.written == [b"hello"] and port.closed and not reader.is_open
    with pytest.raises(LinkDownError, match="/dev/ttyFAKE is not open"):
        reader.write(b"late")
    reader.stop()  # idempotent
    assert protocol.lost() == [None]


def test_a_read_error_closes_the_port_reports_it_and_the_port_is_reopened(protocol: RecordingProtocol) -> None:
    first = FakePort()
    reopen = Reopener(failures=2)  # the device is not back at once
    reader = make_reader(protocol, reopen)
    reader.start(first)
    first.incoming.put(OSError(5, "Input/output error"))
    wait_until(lambda: len(reopen.ports) == 1 and protocol.names().count("made") == 2)
    lost = protocol.lost()
    assert len(lost) == 1 and isinstance(lost[0], LinkError)
    assert "read failed" in str(lost[0]) and isinstance(lost[0].__cause__, OSError)
    assert first.closed and reopen.calls == 3
    second = reopen.ports[0]
    second.incoming.put(b"back")
    wait_until(lambda: ("data", b"back") in protocol.calls)
    reader.write(b"to the new port")
    reader.stop()
    assert second.written == [b"to the new port"] and first.written == []
    assert protocol.names() == ["made", "lost", "made", "data", "lost"]


def test_a_link_error_from_the_protocol_drops_the_connection(protocol: RecordingProtocol) -> None:
    port = FakePort()
    reopen = Reopener()
    reader = make_reader(protocol, reopen)
    silent = LinkDownError("device silent for 1.10 s")
    protocol.tick_error = silent
    reader.start(port)
    wait_until(lambda: len(protocol.lost()) == 1)
    assert protocol.lost() == [silent] and port.closed
    wait_until(lambda: protocol.names().count("made") == 2)
    reader.stop()


def test_without_reconnect_the_reader_stops_after_the_first_loss(protocol: RecordingProtocol) -> None:
    port = FakePort()
    reopen = Reopener()
    reader = make_reader(protocol, reopen, reconnect=False)
    reader.start(port)
    port.incoming.put(OSError(5, "Input/output error"))
    wait_until(lambda: len(protocol.lost()) == 1)
    time.sleep(0.05)
    assert reopen.calls == 0 and not reader.is_open
    with pytest.raises(LinkDownError):
        reader.write(b"x")
    reader.stop()
    assert protocol.names() == ["made", "lost"]  # no second, clean, connection_lost


def test_a_failed_write_is_a_link_error_naming_the_port(protocol: RecordingProtocol) -> None:
    port = FakePort()

    def broken_write(data: bytes) -> None:
        raise OSError(5, "Input/output error")

    port.write = broken_write  # type: ignore[method-assign]
    reader = make_reader(protocol, Reopener())
    reader.start(port)
    with pytest.raises(LinkError, match="write to /dev/ttyFAKE failed") as caught:
        reader.write(b"x")
    assert isinstance(caught.value.__cause__, OSError)
    reader.stop()
