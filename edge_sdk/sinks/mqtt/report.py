"""What became of a run's results on the MQTT side, in numbers and in one line for a person.

``accepted`` by the publisher = ``delivered`` (acknowledged by the broker) + ``pending`` (in the
outbox, sent when the broker answers, by this run or the next one for the device) + ``dropped``
(outbox bounds, broker refusals, payloads that are not JSON). The outbox may also hold results of an
earlier run (``recovered``), so ``pending`` can exceed what this run accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["delivery_counts", "describe_delivery"]


def delivery_counts(stats: Mapping[str, Any]) -> dict[str, int]:
    """``{"delivered", "pending", "dropped"}`` from a publisher's :meth:`stats`."""
    outbox = stats.get("outbox") or {}
    dropped = sum(int(outbox.get(key) or 0) for key in ("dropped_oldest", "rejected_new", "expired"))
    dropped += int(stats.get("refused_by_broker") or 0) + int(stats.get("unencodable") or 0)
    return {"delivered": int(stats.get("acked") or 0), "pending": int(outbox.get("pending") or 0), "dropped": dropped}


def describe_delivery(stats: Mapping[str, Any]) -> str:
    """``delivered=N pending=N dropped=N`` and, when results wait or were lost, where and why."""
    counts = delivery_counts(stats)
    line = " ".join(f"{key}={value}" for key, value in counts.items())
    notes = []
    if counts["pending"]:
        where = (stats.get("outbox") or {}).get("path") or "the outbox"
        notes.append(f"{counts['pending']} results wait in the outbox {where}: the next run for this device "
                     "sends them once the broker answers")
    if counts["dropped"]:
        notes.append(f"{counts['dropped']} results were dropped (outbox bounds, refused by the broker or not JSON; "
                     "see the stats)")
    if notes and stats.get("last_error"):
        notes.append(f"last MQTT error: {stats['last_error']}")
    return line + ("" if not notes else " (" + "; ".join(notes) + ")")
