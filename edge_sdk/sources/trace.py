"""One rule for what a trace file is, shared by the text and sensor sources.

A trace is JSON lines whose first record carries ``t_s`` (seconds from the start of the run), so
it is replayed on the run's clock; any other file is read line by line as live input. Text and
sensor files used to be told apart by two different tests (a leading ``{`` for text, a ``t_s`` key
for sensors), so one file could be a trace to one source and live input to the other.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["is_trace_file"]


def is_trace_file(path: Path) -> bool:
    """Whether the first non-blank line of ``path`` is a JSON object with a ``t_s`` key."""
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(record, dict) and "t_s" in record
    return False
