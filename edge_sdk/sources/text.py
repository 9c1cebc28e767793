"""Text (command) inputs: a fixed prompt, stdin lines, a file, or an MQTT command topic.

Every text source is a :class:`TextSlot`; producers call :meth:`TextSlot.set` (the MQTT command
handler calls :meth:`TextSlot.set_from_payload`), the aligner reads :meth:`TextSlot.latest`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

from edge_sdk.clock import ReplayClock, WallReplayClock
from edge_sdk.errors import ConfigError, SourceError
from edge_sdk.pipeline.readings import LatestValue, LineFeeder, TraceReplay
from edge_sdk.sources.config import TextConfig
from edge_sdk.sources.trace import is_trace_file

__all__ = ["TextSlot", "load_command_trace", "open_text_source"]

MAX_TEXT_CHARS = 1000


class TextSlot(LatestValue[str]):
    """The latest command text, older than ``max_age_s`` counting as missing."""

    def set(self, text: str, timestamp_s: float | None = None) -> None:
        """Set the text, stamped ``timestamp_s`` on the runtime clock (default: now)."""
        self._store(text, timestamp_s)

    def set_from_payload(self, payload: bytes | str) -> bool:
        """Set from an MQTT payload: UTF-8 text or ``{"text": "..."}``. Malformed ones are counted, False."""
        try:
            text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        except UnicodeDecodeError as exc:
            self.reject(f"command payload is not UTF-8: {exc}", "not_utf8")
            return False
        text = text.strip()
        if text.startswith("{"):
            try:
                record = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurdly nested
                self.reject(f"command payload is not valid JSON: {exc}. Got: {text[:80]!r}", "not_json")
                return False
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                self.reject(f'command payload must be text or {{"text": "..."}}. Got: {text[:80]!r}', "not_text")
                return False
            text = record["text"].strip()
        if not text or len(text) > MAX_TEXT_CHARS:
            self.reject(f"command text must have 1 to {MAX_TEXT_CHARS} characters. Got: {len(text)}",
                        "empty" if not text else "too_long")
            return False
        self.set(text)
        return True


def load_command_trace(path: str | Path, slot: TextSlot | None = None) -> list[tuple[float, str]]:
    """Records ``(t_s, text)`` of a JSON-lines commands trace; malformed lines are counted on ``slot``."""
    records = []
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as exc:
                if slot is not None:
                    slot.reject(f"{path}:{number}: not valid JSON: {exc}", "not_json")
                continue
            t_s, text = (record.get("t_s"), record.get("text")) if isinstance(record, dict) else (None, None)
            if not isinstance(t_s, (int, float)) or isinstance(t_s, bool) or not isinstance(text, str):
                if slot is not None:
                    slot.reject(f"{path}:{number}: expected a number t_s and a string text. Got: {line.strip()[:80]!r}",
                                "bad_record")
                continue
            records.append((float(t_s), text))
    return records


def open_text_source(config: TextConfig, clock: ReplayClock | None = None,
                     stdin: IO[str] | None = None) -> TextSlot | None:
    """A started text source, or None for ``source: none``.

    For a commands trace, ``clock`` is the run's replay clock (default: now).
    """
    if config.source == "none":
        return None
    slot = TextSlot(f"text:{config.source}", config.max_age_s)
    if config.source == "fixed":
        if not config.prompt.strip():
            raise ConfigError("text.prompt: expected the command text for source=fixed. Got: ''")
        slot.set(config.prompt.strip())
        return slot
    if config.source == "stdin":
        slot.attach(LineFeeder(stdin or sys.stdin, slot.set_from_payload, "edge-text-stdin"))
        return slot
    if config.source == "mqtt":
        return slot  # the MQTT command handler calls slot.set_from_payload
    if config.source == "file":
        if not config.path:
            raise ConfigError("text.path: expected a file for source=file. Got: null")
        path = Path(config.path)
        if not path.is_file():
            raise SourceError(f"text:file: file not found: {path}")
        if is_trace_file(path):
            records = load_command_trace(path, slot)
            slot.attach(TraceReplay(records, slot.set, clock or WallReplayClock(), "edge-text-replay"))
        else:
            slot.attach(LineFeeder(path.open(encoding="utf-8"), slot.set_from_payload, "edge-text-file", close_stream=True))
        return slot
    raise ConfigError(f"text.source: expected one of fixed, stdin, file, mqtt. Got: {config.source!r}")

