"""The result payload's delivery identity: schema name, device, ``boot``, ``seq`` and ``replayed``.

The pipeline builds the result fields; the publisher (or a sink) stamps them here so that
``(boot, seq)`` is unique per message and consumers can drop duplicates after a replay.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["RESULT_SCHEMA", "STATS_SCHEMA", "ResultStamper", "encode", "mark_replayed"]

RESULT_SCHEMA = "edge_sdk.result/2"  # what the runtime publishes: a typed task result
RESULT_SCHEMAS = ("edge_sdk.result/1", RESULT_SCHEMA)  # /1: label, confidence, scores at the top (documented)
STATS_SCHEMA = "edge_sdk.stats/1"
_OWNED_KEYS = ("seq", "boot", "replayed")


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON; NaN and infinity are refused because they are not JSON."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def mark_replayed(payload: bytes) -> bytes:
    """The same message with ``"replayed": true`` (only replays pay for the re-encoding)."""
    data = json.loads(payload)
    data["replayed"] = True
    return encode(data)


class ResultStamper:
    """Assigns ``boot`` (random per process start) and ``seq`` (1, 2, 3... per boot)."""

    def __init__(self, device_id: str, boot: str | None = None) -> None:
        self.device_id = device_id
        self.boot = boot or uuid.uuid4().hex
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self.last_seq = 0

    def stamp(self, result: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Return ``(seq, payload)``: the result with the schema and delivery fields added."""
        for key in _OWNED_KEYS:
            if key in result:
                raise ValueError(
                    f"result payload must not contain {key!r}: the publisher assigns seq, boot and replayed. "
                    f"Got keys: {sorted(result)}"
                )
        # a payload that does not say: v2 when it carries a task result, else the v1 shape
        schema = result.get("schema", RESULT_SCHEMA if "task" in result else RESULT_SCHEMAS[0])
        if schema not in RESULT_SCHEMAS:
            raise ValueError(f"result payload schema must be one of {RESULT_SCHEMAS}. Got: {schema!r}")
        device = result.get("device", self.device_id)
        if device != self.device_id:
            raise ValueError(f"result payload device must be {self.device_id!r}. Got: {device!r}")
        with self._lock:
            seq = next(self._seq)
            self.last_seq = seq
        payload = {"schema": schema, "device": self.device_id, "seq": seq, "boot": self.boot}
        payload.update(result)
        payload["replayed"] = False
        return seq, payload

    def stats_payload(self, stats: Mapping[str, Any], ts: float) -> dict[str, Any]:
        payload: dict[str, Any] = {"schema": STATS_SCHEMA, "device": self.device_id, "boot": self.boot, "ts": ts}
        payload.update(stats)
        return payload
