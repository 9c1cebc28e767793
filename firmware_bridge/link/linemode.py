"""Line mode: sketches that only ``Serial.println`` their readings, one reading per line.

Three formats, chosen by :class:`LineModeConfig` ``format`` or detected per line (``auto``):

- ``kv``:   ``distance_cm=42.3 temp_c=21`` (separators: space, comma or semicolon; ``:`` also works)
- ``csv``:  a header line ``distance_cm,temp_c`` then rows ``42.3,21``
- ``json``: ``{"distance_cm": 42.3, "temp_c": 21}``

Lines that do not parse are counted and skipped, never raised. A reading is a
:class:`SensorReading`, like the binary protocol's; with ``time_key`` set, the sketch's
``millis()`` is mapped to host time the same way.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from firmware_bridge.config import LineModeConfig
from firmware_bridge.errors import LinkDownError, LinkError
from firmware_bridge.link.clock import ClockMapper
from firmware_bridge.link.dispatch import CallbackDispatcher
from firmware_bridge.link.reading import LatestReading, SensorReading
from firmware_bridge.link.transport import open_port

__all__ = ["LineParser", "LineReader"]

log = logging.getLogger(__name__)
_KV_SPLIT = re.compile(r"[\s,;]+")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class LineParser:
    """Turns lines into ``{channel: value}``; keeps the CSV header between lines."""

    def __init__(self, fmt: str = "auto") -> None:
        self.format = fmt
        self.header: list[str] | None = None

    def parse(self, line: str) -> dict[str, float] | None:
        """Values of one line; None for a header, a blank line or a line that does not parse."""
        line = line.strip()
        if not line:
            return None
        fmt = self.format
        if fmt == "auto":
            fmt = (
                "json"
                if line.startswith("{")
                else "kv"
                if ("=" in line or ":" in line)
                else "csv"
            )
        if fmt == "json":
            return self._json(line)
        if fmt == "kv":
            return self._kv(line)
        return self._csv(line)

    @staticmethod
    def _json(line: str) -> dict[str, float] | None:
        try:
            data = json.loads(line)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        values = {
            str(k): float(v) for k, v in data.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }  # fmt: skip
        return values or None

    @staticmethod
    def _kv(line: str) -> dict[str, float] | None:
        values: dict[str, float] = {}
        for part in _KV_SPLIT.split(line.replace(": ", ":").replace(" = ", "=")):
            key, sep, raw = part.partition("=") if "=" in part else part.partition(":")
            number = _number(raw) if sep else None
            if key and number is not None:
                values[key] = number
        return values or None

    def _csv(self, line: str) -> dict[str, float] | None:
        fields = [f.strip() for f in line.split(",")]
        numbers = [_number(f) for f in fields]
        if any(n is None for n in numbers):
            if all(n is None for n in numbers):
                self.header = (
                    fields  # a header line (or a new one after a sketch reset)
                )
            return None
        if self.header is None or len(self.header) != len(fields):
            return None
        return {
            name: float(n) for name, n in zip(self.header, numbers) if n is not None
        }


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
        self._parser = LineParser(self.config.format)
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
        }

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

    def latest_reading(self, max_age_s: float | None = None) -> SensorReading | None:
        """The newest reading, or None if there is none or it is older than ``max_age_s``."""
        return self._latest.get(max_age_s)

    def wait_for_reading(self, timeout_s: float) -> SensorReading:
        """Block for the next reading that arrives after this call; LinkDownError on timeout."""
        reading = self._latest.wait_next(timeout_s, self._closing)
        if reading is None:
            raise LinkDownError(f"no reading line from {self.url} within {timeout_s} s")
        return reading

    def feed_line(
        self, line: str, received_s: float | None = None
    ) -> SensorReading | None:
        """Parse one line as if it came from the port (also used by the reader thread)."""
        received = time.time() if received_s is None else received_s
        values = self._parser.parse(line)
        if values is None:
            self.counts["lines_skipped"] += 1
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
        buffer = bytearray()
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
                    buffer.clear()
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
            buffer += data
            while b"\n" in buffer:
                raw, _, rest = bytes(buffer).partition(b"\n")
                buffer = bytearray(rest)
                if len(raw) > self.config.max_line_bytes:
                    self.counts["lines_oversize"] += 1
                    continue
                self.feed_line(raw.decode("utf-8", errors="replace"))
            if len(buffer) > self.config.max_line_bytes:
                buffer.clear()  # no newline where one must have been: drop and wait for the next
                self.counts["lines_oversize"] += 1
