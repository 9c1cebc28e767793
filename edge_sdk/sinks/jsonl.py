"""A JSON-lines :class:`~edge_sdk.sinks.base.ResultSink`: one result or stats object per line, for pipes.

``edge-sdk run ... --stdout | jq 'select(.schema == "edge_sdk.result/2") | .result'``
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from edge_sdk.sinks.mqtt.payload import ResultStamper, encode

if TYPE_CHECKING:
    from typing import Self

__all__ = ["JSONLinesSink"]


class JSONLinesSink:
    """Writes results (schema ``edge_sdk.result/2``, or ``/1`` for v1-shaped dicts) and stats as JSON lines to a text stream.

    Same calls as :class:`~edge_sdk.sinks.mqtt.publisher.MQTTPublisher`; there is no broker, so
    commands never arrive and delivery is whatever the stream does (a closed pipe raises).

    The default stream is stdout, which is then for data only: each line is one write, but the
    sink runs on the pipeline's sink thread, so a callback's ``print()`` to stdout can land in the
    middle of the stream. Print diagnostics to stderr (``print(..., file=sys.stderr)``) or log them.
    """

    def __init__(self, device_id: str, stream: TextIO | None = None, *, boot: str | None = None) -> None:
        self._stamper = ResultStamper(device_id, boot)
        self._stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()
        self._results = 0
        self._closed = False
        self._boot_seen: str | None = None

    @property
    def boot(self) -> str:
        """The boot of the lines written: the run's when it stamps results (:meth:`publish_stamped`)."""
        return self._boot_seen or self._stamper.boot

    def start(self) -> Self:
        return self

    sink_name = "jsonl"

    def publish_result(self, result: Mapping[str, Any]) -> int:
        stamper = self._stamper
        schema, body = stamper.check(result), encode(result)  # before the seq: a refused result takes none
        seq = stamper.next_seq()
        self._write(stamper.stamp_encoded(result, schema, body, seq))
        self._results += 1
        return seq

    def publish_stamped(self, results: Sequence[Mapping[str, Any]], stamps: Sequence[tuple[str, int]]) -> int:
        """Write results the run has stamped (``stamps[i] == (boot, seq)``), so these lines carry the same
        ``(boot, seq)`` as the MQTT messages of the same results."""
        if len(results) != len(stamps):
            raise ValueError(f"publish_stamped needs one (boot, seq) per result. Got {len(stamps)} for "
                             f"{len(results)} results")
        lines = []
        stamper = self._stamper
        for result, (boot, seq) in zip(results, stamps):
            # checks the result's keys; its JSON is the one the run made (once) for every sink
            lines.append(stamper.stamp_encoded(result, stamper.check(result), encode(result), seq, boot))
            stamper.last_seq = seq
            self._boot_seen = boot
        self._write(b"\n".join(lines))
        self._results += len(lines)
        return len(lines)

    def publish_stats(self, stats: Mapping[str, Any]) -> bool:
        payload = self._stamper.stats_payload(stats, time.time())
        payload["boot"] = self.boot
        self._write(encode(payload))
        return True

    def on_command(self, name: str, handler: Callable[[Any], None], payload_format: str = "json") -> None:
        """Accepted for interface parity; a stream has no commands."""

    def stats(self) -> dict[str, Any]:
        return {"state": "closed" if self._closed else "connected", "results": self._results,
                "last_seq": self._stamper.last_seq, "boot": self.boot}

    def _write(self, line: bytes) -> None:
        with self._lock:
            self._stream.write(line.decode() + "\n")
            # Flush per line: the reader at the other end of the pipe wants results as they come.
            self._stream.flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stream.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
