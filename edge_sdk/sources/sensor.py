"""Sensor inputs: the firmware bridge, an MQTT topic, or JSON lines from stdin or a file.

Every sensor source is a :class:`SensorSlot`. Producers:

* the firmware bridge's callback: ``slot.update({"distance_cm": 42.0}, timestamp_s)`` (runtime clock);
* the MQTT handler: ``slot.update_from_json(payload)``;
* JSON lines ``{"distance_cm": 42.0, "ts": 1700000000.5}`` (``ts``: seconds since the epoch, optional:
  arrival time otherwise) from stdin or a file/FIFO;
* a seek sensor trace ``{"t_s": 0.05, "distance_cm": 97.2}`` replayed on the run's clock.

Malformed lines are rejected and counted (``rejected``, ``last_error``); the stream goes on.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from edge_sdk.clock import MediaClock, ReplayClock, WallReplayClock, from_wall_s
from edge_sdk.errors import ConfigError, SourceError
from edge_sdk.pipeline.readings import InputRejected, LatestValue, LineFeeder, TraceReplay
from edge_sdk.sources.config import SENSOR_MAX_AGE_S, SensorConfig
from edge_sdk.sources.trace import is_trace_file

__all__ = ["SensorSlot", "load_sensor_trace", "open_sensor_source", "parse_sensor_record"]

_TIME_KEYS = ("ts", "t_s")

_log = logging.getLogger(__name__)


class SensorSlot(LatestValue[Mapping[str, float]]):
    """The latest sensor values (name -> float), older than ``max_age_s`` counting as missing.

    ``max_age_s`` defaults to the config's ``sensor.max_age_s`` default (1 s): a stale distance must
    not steer a robot. A value that is set once and stays true is ``max_age_s=None``.
    """

    def __init__(self, name: str, max_age_s: float | None = SENSOR_MAX_AGE_S, clock: ReplayClock | None = None) -> None:
        super().__init__(name, max_age_s)
        self._clock = clock  # maps "t_s" of trace-style lines received live

    def update(self, values: Mapping[str, float], timestamp_s: float | None = None) -> None:
        """Store a reading taken at ``timestamp_s`` (runtime clock, :func:`edge_sdk.clock.now_s`).

        This is the firmware bridge's entry point; it trusts its caller (no validation) to stay cheap.
        """
        self._store(values, timestamp_s)

    def update_from_json(self, line: bytes | str) -> bool:
        """Parse one JSON reading and store it; a malformed one is counted and returns False."""
        try:
            values, stamp = parse_sensor_record(line)
        except InputRejected as exc:
            self.reject(str(exc), exc.reason)
            return False
        kind, when = stamp
        if kind == "ts":
            self._store(values, from_wall_s(when))
        elif kind == "t_s":
            self._store(values, (self._clock or _default_clock(self)).to_runtime_s(when))
        else:
            self._store(values, None)
        return True


def _untimed_file_advice(path: Path) -> str:
    return (f"{path} has no t_s: its readings are stamped as they are read (or by their ts), not on the video's "
            "clock, so under camera.playback every_frame they are soon older than sensor.max_age_s. Give each line "
            'a t_s, seconds into the video ({"t_s": 0.5, "distance_cm": 80}), to make the file a trace replayed '
            "on the video's clock")


def _default_clock(slot: SensorSlot) -> ReplayClock:
    slot._clock = WallReplayClock()
    return slot._clock


def parse_sensor_record(line: bytes | str) -> tuple[dict[str, float], tuple[str, float]]:
    """``(values, (time_key, time))`` of one JSON reading; time_key is ``"ts"``, ``"t_s"`` or ``""``.

    Raises :class:`~edge_sdk.pipeline.readings.InputRejected` (a ValueError) with a reason code
    (``not_json``, ``not_object``, ``not_number``, ``non_finite``, ``no_values``) and what was
    expected and what came.
    """
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurdly nested input
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise InputRejected("not_json", f"sensor line is not valid JSON ({message}). Got: {text.strip()[:80]!r}") from None
    if not isinstance(record, dict):
        raise InputRejected("not_object", f"sensor line must be a JSON object of numbers. Got: {text.strip()[:80]!r}")
    values: dict[str, float] = {}
    stamp: tuple[str, float] = ("", 0.0)
    for key, value in record.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputRejected("not_number", f"sensor value {key!r} must be a finite number. Got: {value!r}")
        if not math.isfinite(value):  # 1e999 parses as infinity
            raise InputRejected("non_finite", f"sensor value {key!r} must be a finite number. Got: {value!r}")
        if key in _TIME_KEYS:
            stamp = (key, float(value))
        else:
            values[key] = float(value)
    if not values:
        raise InputRejected("no_values", f"sensor line has no values besides its time. Got: {text.strip()[:80]!r}")
    return values, stamp


def load_sensor_trace(path: str | Path, slot: SensorSlot | None = None) -> list[tuple[float, Mapping[str, float]]]:
    """Records ``(t_s, values)`` of a JSON-lines sensor trace; malformed lines are counted on ``slot``."""
    records: list[tuple[float, Mapping[str, float]]] = []
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                values, (kind, t_s) = parse_sensor_record(line)
                if kind != "t_s":
                    raise InputRejected("no_t_s", f"trace line needs a t_s. Got: {line.strip()[:80]!r}")
            except InputRejected as exc:
                if slot is not None:
                    slot.reject(f"{path}:{number}: {exc}", exc.reason)
                continue
            records.append((t_s, values))
    return records


def open_sensor_source(config: SensorConfig, clock: ReplayClock | None = None,
                       stdin: IO[str] | None = None) -> SensorSlot | None:
    """A started sensor source, or None for ``source: none``.

    ``bridge`` and ``mqtt`` return an empty slot that the firmware bridge callback or the MQTT handler
    fills. A file whose first line has ``t_s`` is a trace replayed on ``clock``; any other file (or a
    FIFO) is read as a live stream of readings, like stdin.
    """
    if config.source == "none":
        return None
    slot = SensorSlot(f"sensor:{config.source}", config.max_age_s, clock)
    if config.source in ("bridge", "mqtt"):
        return slot
    if config.source == "stdin":
        slot.attach(LineFeeder(stdin or sys.stdin, slot.update_from_json, "edge-sensor-stdin"))
        return slot
    if config.source == "file":
        if not config.path:
            raise ConfigError("sensor.path: expected a file for source=file. Got: null")
        path = Path(config.path)
        if not path.exists():
            raise SourceError(f"sensor:file: file not found: {path}")
        if path.is_file() and is_trace_file(path):
            records = load_sensor_trace(path, slot)
            slot.attach(TraceReplay(records, slot.update, clock or WallReplayClock(), "edge-sensor-replay"))
        else:
            if isinstance(clock, MediaClock) and path.is_file():
                slot.advice = _untimed_file_advice(path)
                _log.warning("sensor.path: %s", slot.advice)
            slot.attach(LineFeeder(path.open(encoding="utf-8"), slot.update_from_json, "edge-sensor-file",
                                   close_stream=True))
        return slot
    raise ConfigError(f"sensor.source: expected one of none, stdin, file, mqtt, bridge. Got: {config.source!r}")

