"""The lines of a run's summary about its inputs and its sinks, for a person (``edge-sdk run`` prints them).

Every rejected text, reading or command is there by reason, and each sink's own counters as the sink
reports them, so what the log only mentioned five times is still counted at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["describe_inputs", "describe_published", "describe_sinks"]

# shown first, and even when 0: what a person checks when results did not arrive
_FIRST_KEYS = ("state", "accepted", "acked", "refused_by_broker", "connect_failures", "last_error")


def describe_published(summary: Mapping[str, Any]) -> str:
    """``published=N``, or that there was no sink to publish to."""
    if "sinks" in summary and not summary["sinks"]:
        return "published=none (no sink: results reached only callbacks)"
    return f"published={summary.get('published')}"


def _by_reason(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{reason}={count}" for reason, count in counts.items())


def describe_inputs(summary: Mapping[str, Any]) -> str | None:
    """``text 12 updates, 4 rejected (not_json=3, too_long=1); sensor ...; commands ...``, None without inputs."""
    parts = []
    for role, stats in (summary.get("inputs") or {}).items():
        if not stats:
            continue
        part = f"{role} {stats.get('updates', 0)} updates, {stats.get('rejected', 0)} rejected"
        if stats.get("rejected_by"):
            part += f" ({_by_reason(stats['rejected_by'])})"
        parts.append(part)
    commands = (summary.get("mqtt") or {}).get("commands")
    if commands:
        parts.append("commands " + ", ".join(f"{count} {key}" for key, count in commands.items()))
    return "; ".join(parts) if parts else None


def describe_sinks(summary: Mapping[str, Any]) -> list[str]:
    """One line per sink: its counters as it reports them (scalars; nested sections such as the outbox
    are described elsewhere), the ones in ``_FIRST_KEYS`` first."""
    lines = []
    for name, stats in (summary.get("sinks") or {}).items():
        keys = [k for k in _FIRST_KEYS if k in stats] + [k for k in stats if k not in _FIRST_KEYS]
        shown = [f"{key}={stats[key]}" for key in keys
                 if isinstance(stats[key], (int, float, str, bool)) or (key in _FIRST_KEYS and key in stats)]
        lines.append(f"sink {name}: " + " ".join(shown))
    return lines
