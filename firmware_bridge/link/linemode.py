"""Line mode: sketches that only ``Serial.println`` their readings, one reading per line.

Three formats, chosen by :class:`LineModeConfig` ``format`` or detected per line (``auto``):

- ``kv``:   ``distance_cm=42.3 temp_c=21`` (separators: space, comma or semicolon; ``:`` also works)
- ``csv``:  a header line ``distance_cm,temp_c`` then rows ``42.3,21``
- ``json``: ``{"distance_cm": 42.3, "temp_c": 21}``

Lines that do not parse are counted by reason (:data:`REJECT_REASONS`) and skipped, never raised:
a line longer than ``max_line_bytes`` (1024), not UTF-8, JSON nested deeper than
:data:`MAX_JSON_DEPTH`, NaN/Infinity, a number beyond float range, or no numeric value. A reading is a
:class:`SensorReading`, like the binary protocol's; with ``time_key`` set, the sketch's
``millis()`` is mapped to host time the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from firmware_bridge.config import LineModeConfig
from firmware_bridge.errors import LinkDownError, LinkError
from firmware_bridge.link.clock import ClockMapper
from firmware_bridge.link.dispatch import CallbackDispatcher
from firmware_bridge.link.lineparse import MAX_JSON_DEPTH, REJECT_REASONS, LineParser, LineSplitter
from firmware_bridge.link.reading import LatestReading, SensorReading
from firmware_bridge.link.transport import open_port

__all__ = ["MAX_JSON_DEPTH", "REJECT_REASONS", "LineParser", "LineReader", "LineSplitter"]

log = logging.getLogger(__name__)


class LineReader:
    """Reads a line-mode device on a named thread; same reading API as :class:`BridgeLink`."""

    def __init__(
        self,
        url: str,
        config: LineModeConfig | None = None,
        *,
        on_reading: Callable[[SensorReading], None] | None = None,
    ) -> None:
        self.url = url
        self.config = config or LineModeConfig()
        self._parser = LineParser(self.config.format, self.config.max_line_bytes)
        self._splitter = LineSplitter(self.config.max_line_bytes)
        self._clock = ClockMapper()
        self._on_reading = on_reading
        self._cond = threading.Condition()
        self._latest = LatestReading(self._cond)
        self._closing = threading.Event()
        self._port: Any = None
        self._thread: threading.Thread | None = None
        self._dispatcher: CallbackDispatcher[SensorReading] | None = None
        self.counts = {
            "lines_ok": 0,
            "lines_skipped": 0,
            "lines_oversize": 0,
            "link_losses": 0,
            "readings": 0,
            "reader_failures": 0,
        }
        self._failure: BaseException | None = None

    @classmethod
    def open(
        cls,
        url: str,
        config: LineModeConfig | None = None,
        *,
        on_reading: Callable[[SensorReading], None] | None = None,
    ) -> LineReader:
        """Open ``url`` and start reading; raises PortBusyError or LinkError."""
        reader = cls(url, config, on_reading=on_reading)
        reader.start()
        return reader

    def start(self) -> None:
        if self._thread is not None:
            raise LinkError(f"line reader for {self.url} is already started")
        self._port = open_port(
            self.url, baudrate=self.config.baudrate, timeout_s=0.05, exclusive=True
        )
        if self._on_reading is not None:
            self._dispatcher = CallbackDispatcher(
                f"firmware-bridge-lines-callbacks:{self.url}", self._on_reading, 256
            )
        self._thread = threading.Thread(
            target=self._run, name=f"firmware-bridge-lines:{self.url}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop reading and release the port. Idempotent."""
        self._closing.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(2.0)
        port, self._port = self._port, None
        if port is not None:
            port.close()
        if self._dispatcher is not None:
            self._dispatcher.close()
            self._dispatcher = None
        with self._cond:
            self._cond.notify_all()

    def __enter__(self) -> LineReader:  # noqa: PYI034 (not meant for subclassing)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def failure(self) -> BaseException | None:
        """The exception that ended the reader thread, if it failed (no line is read after it)."""
        return self._failure

    def stats(self) -> dict[str, Any]:
        """The counters, with ``rejected``: lines refused, by reason (see :data:`REJECT_REASONS`)."""
        return {**self.counts, "rejected": dict(self._parser.rejects),
                "failure": repr(self._failure) if self._failure else None}  # fmt: skip

    def latest_reading(self, max_age_s: float | None = None) -> SensorReading | None:
        """The newest reading, or None if there is none or it is older than ``max_age_s``.

        Raises LinkError once the reader thread has failed: no newer reading will ever come.
        """
        self._raise_if_failed()
        return self._latest.get(max_age_s)

    def wait_for_reading(self, timeout_s: float) -> SensorReading:
        """Block for the next reading that arrives after this call; LinkDownError on timeout."""
        self._raise_if_failed()
        reading = self._latest.wait_next(timeout_s, self._closing)
        if reading is None:
            self._raise_if_failed()
            raise LinkDownError(f"no reading line from {self.url} within {timeout_s} s")
        return reading

    def _raise_if_failed(self) -> None:
        failure = self._failure
        if failure is not None:
            raise LinkError(f"the line reader of {self.url} failed: {failure!r}") from failure

    def feed_line(
        self, line: str, received_s: float | None = None
    ) -> SensorReading | None:
        """Parse one line as if it came from the port (also used by the reader thread)."""
        return self._accept(self._parser.parse(line), received_s)

    def _accept(self, values: dict[str, float] | None, received_s: float | None) -> SensorReading | None:
        received = time.time() if received_s is None else received_s
        if values is None:
            self.counts["lines_skipped"] += 1
            self.counts["lines_oversize"] = self._parser.rejects["too_long"]
            return None
        self.counts["lines_ok"] += 1
        mcu_ms: int | None = None
        stamp = received
        key = self.config.time_key
        if key and key in values:
            mcu_ms = int(values.pop(key)) & 0xFFFFFFFF
            stamp = self._clock.to_host(mcu_ms, received)
        reading = SensorReading(values, stamp, received, mcu_ms, None, self.url)
        self._latest.put(reading)
        self.counts["readings"] += 1
        if self._dispatcher is not None:
            self._dispatcher.submit(reading)
        return reading

    def _run(self) -> None:
        try:
            self._read_lines()
        except Exception as exc:  # whatever ends the thread must reach the owner, not vanish
            self._failure = exc
            self.counts["reader_failures"] += 1
            self.counts["link_losses"] += 1
            log.error("line reader %s failed; no further line is read: %r", self.url, exc, exc_info=exc)
            with self._cond:
                self._cond.notify_all()  # wake wait_for_reading, which then raises

    def _read_lines(self) -> None:
        self._splitter.clear()
        while not self._closing.is_set():
            port = self._port
            if port is None:
                try:
                    self._port = open_port(
                        self.url,
                        baudrate=self.config.baudrate,
                        timeout_s=0.05,
                        exclusive=True,
                    )
                    self._splitter.clear()
                except LinkError:
                    self._closing.wait(self.config.reconnect_interval_s)
                continue
            try:
                data = port.read(max(1, port.in_waiting))
            except Exception as exc:  # noqa: BLE001 -- pyserial raises SerialException, OSError or TypeError when the device vanishes
                log.warning("line reader %s lost the port: %s", self.url, exc)
                self.counts["link_losses"] += 1
                self._port = None
                try:
                    port.close()
                except Exception as close_exc:  # noqa: BLE001 -- the fd is already gone
                    log.debug("closing %s: %s", self.url, close_exc)
                continue
            for raw in self._splitter.feed(data):
                self._accept(self._parser.parse_bytes(raw), None)
