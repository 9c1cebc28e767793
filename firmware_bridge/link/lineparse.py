"""Parsing for line mode: a capped line splitter and a parser that counts every rejection by reason.

Nothing here raises on bad input: a sketch's serial output is untrusted (noise at the wrong baud
rate, a reset in the middle of a line, a bug printing ``1e999`` or a megabyte of zeros), and one
bad line must never stop the lines after it.
"""

from __future__ import annotations

import json
import math
import re

__all__ = ["MAX_JSON_DEPTH", "REJECT_REASONS", "LineParser", "LineSplitter"]

_KV_SPLIT = re.compile(r"[\s,;]+")

MAX_JSON_DEPTH = 8  # a reading is a flat object; deeper nesting is rejected before json sees it

# Why a line was rejected (LineParser.rejects, LineReader.stats()["rejected"]).
REJECT_REASONS = ("too_long", "not_utf8", "nesting", "not_finite", "number_range", "not_json",
                  "no_values", "no_header")  # fmt: skip


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _json_depth(line: str) -> int:
    """Deepest ``{``/``[`` nesting outside strings, without recursion (json's parser recurses)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth -= 1
    return deepest


def _json_constant(name: str) -> float:
    raise _Rejected("not_finite")  # NaN, Infinity, -Infinity: not JSON, and no reading


def _json_number(text: str) -> float:
    # Every number becomes a float at once: "1" + 400 zeros would otherwise be a Python int that
    # float() cannot take (OverflowError), and a 5000-digit int trips the int-string limit.
    value = float(text)
    if not math.isfinite(value):
        raise _Rejected("number_range")
    return value


class LineParser:
    """Turns lines into ``{channel: value}``; keeps the CSV header between lines.

    A line that gives no reading returns None; when it was refused (not a header, not blank), the
    reason is counted in :attr:`rejects` and kept in :attr:`last_reject`. Nothing raises.
    """

    def __init__(self, fmt: str = "auto", max_line_bytes: int = 1024) -> None:
        self.format = fmt
        self.max_line_bytes = max_line_bytes
        self.header: list[str] | None = None
        self.rejects: dict[str, int] = dict.fromkeys(REJECT_REASONS, 0)
        self.last_reject: str | None = None

    def parse_bytes(self, raw: bytes) -> dict[str, float] | None:
        """Values of one raw line (without its newline): length and UTF-8 checked first."""
        if len(raw) > self.max_line_bytes:
            self._reject("too_long")
            return None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._reject("not_utf8")
            return None
        return self.parse(line)

    def parse(self, line: str) -> dict[str, float] | None:
        """Values of one line; None for a header, a blank line or a line that does not parse."""
        self.last_reject = None
        line = line.strip()
        if not line:
            return None
        if len(line.encode("utf-8", errors="replace")) > self.max_line_bytes:
            self._reject("too_long")
            return None
        fmt = self.format
        if fmt == "auto":
            fmt = (
                "json"
                if line.startswith(("{", "["))
                else "kv"
                if ("=" in line or ":" in line)
                else "csv"
            )
        try:
            if fmt == "json":
                values = self._json(line)
            elif fmt == "kv":
                values = self._kv(line)
            else:
                values = self._csv(line)
        except _Rejected as exc:
            self._reject(exc.reason)
            return None
        return values

    def _reject(self, reason: str) -> None:
        self.rejects[reason] += 1
        self.last_reject = reason

    @staticmethod
    def _json(line: str) -> dict[str, float] | None:
        if _json_depth(line) > MAX_JSON_DEPTH:
            raise _Rejected("nesting")
        try:
            data = json.loads(line, parse_int=_json_number, parse_float=_json_number, parse_constant=_json_constant)
        except RecursionError:
            raise _Rejected("nesting") from None
        except ValueError:
            raise _Rejected("not_json") from None
        if not isinstance(data, dict):
            raise _Rejected("not_json")
        values = {
            str(k): float(v) for k, v in data.items() if isinstance(v, float)
        }  # fmt: skip
        if not values:
            raise _Rejected("no_values")
        return values

    @staticmethod
    def _kv(line: str) -> dict[str, float] | None:
        values: dict[str, float] = {}
        for part in _KV_SPLIT.split(line.replace(": ", ":").replace(" = ", "=")):
            key, sep, raw = part.partition("=") if "=" in part else part.partition(":")
            number = _number(raw) if sep else None
            if key and number is not None:
                values[key] = number
        if not values:
            raise _Rejected("no_values")
        return values

    def _csv(self, line: str) -> dict[str, float] | None:
        fields = [f.strip() for f in line.split(",")]
        numbers = [_number(f) for f in fields]
        if any(n is None for n in numbers):
            if all(n is None for n in numbers):
                self.header = (
                    fields  # a header line (or a new one after a sketch reset)
                )
                return None
            raise _Rejected("no_values")
        if self.header is None or len(self.header) != len(fields):
            raise _Rejected("no_header")
        return {
            name: float(n) for name, n in zip(self.header, numbers) if n is not None
        }


class LineSplitter:
    """Bytes in any chunking → lines without their ``\\n``, never buffering more than the cap.

    A line longer than ``max_line_bytes`` is cut at ``max_line_bytes + 1`` bytes (so the parser
    counts it as ``too_long``) and the rest of it is discarded up to its newline.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._discarding = False

    def clear(self) -> None:
        self._buffer.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            chunk = data[start:] if end < 0 else data[start:end]
            if not self._discarding:
                room = self.max_line_bytes + 1 - len(self._buffer)
                self._buffer += chunk[:room]
                if len(chunk) > room or len(self._buffer) > self.max_line_bytes:
                    lines.append(bytes(self._buffer))  # too long: reported once, rest dropped
                    self._buffer.clear()
                    self._discarding = True
            if end < 0:
                break
            if not self._discarding:
                lines.append(bytes(self._buffer).rstrip(b"\r"))
            self._buffer.clear()
            self._discarding = False
            start = end + 1
        return lines
