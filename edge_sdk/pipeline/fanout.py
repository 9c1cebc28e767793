"""The sinks of a run, fed as one: each result checked once, stamped once, counted per sink.

On the dispatcher's sink thread, for each batch of result payloads:

1. **Checked**: a payload that is not JSON (a NaN or infinite confidence) is counted
   (``unencodable``), logged for the first few, and given to no sink. It used to reach the MQTT
   delivery process, which logged "not JSON ... not published" while the run counted it published.
2. **Stamped once**: every sink gets the same ``(boot, seq)`` for the same result, so the
   JSON-lines output and the MQTT messages can be joined on it. A sink that stamps results itself
   (the MQTT publishers: their outbox keys on the seq they assign) is called first and its seqs are
   the run's; sinks with ``publish_stamped`` get those stamps. With no self-stamping sink the run
   stamps with its own ``boot``.
3. **Counted per sink**: ``accepted`` is what each sink took without raising. ``published`` (what
   the pipeline reports) is what every sink accepted.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from edge_sdk.errors import PipelineError
from edge_sdk.sinks.base import ResultSink
from edge_sdk.sinks.mqtt.payload import encode

__all__ = ["SinkFanout", "sink_name"]

_log = logging.getLogger(__name__)
_LOGGED_UNENCODABLE = 5  # then only counted: a model that always emits NaN must not flood the log


def sink_name(sink: ResultSink) -> str:
    """``sink.sink_name`` when it has one; ``mqtt`` for a broker-backed sink; else its class name."""
    name = getattr(sink, "sink_name", None)
    if isinstance(name, str) and name:
        return name
    return "mqtt" if hasattr(sink, "add_stats_section") else type(sink).__name__


class _Entry:
    def __init__(self, name: str, sink: ResultSink) -> None:
        self.name, self.sink = name, sink
        self.stamped = callable(getattr(sink, "publish_stamped", None))
        self.accepted = 0


class SinkFanout:
    """Checks, stamps and hands each batch to every sink; see the module docstring."""

    def __init__(self, sinks: Sequence[ResultSink], boot: str | None = None) -> None:
        entries: list[_Entry] = []
        for sink in sinks:
            name = base = sink_name(sink)
            for n in itertools.count(2):
                if all(e.name != name for e in entries):
                    break
                name = f"{base}{n}"
            entries.append(_Entry(name, sink))
        # self-stamping sinks first: their seqs are the stamps the others get
        self._entries = sorted(entries, key=lambda e: e.stamped)
        self._own_boot = boot or uuid.uuid4().hex  # used only when no sink stamps itself
        self._own_seq = itertools.count(1)
        self._mismatch_logged = False
        self.unencodable = 0
        self.last_refusal: str | None = None

    def __bool__(self) -> bool:
        return bool(self._entries)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    @property
    def sinks(self) -> list[tuple[str, ResultSink]]:
        return [(e.name, e.sink) for e in self._entries]

    def refuse(self, frame_index: int, reason: str) -> None:
        """Count a result whose payload could not even be built (a task result holding NaN)."""
        self._count_refusal(f"frame {frame_index}", reason)

    def publish(self, payloads: Sequence[Mapping[str, Any] | None]) -> int:
        """Hand the JSON-valid payloads to every sink (None: refused already); return how many every sink
        accepted. A sink's error propagates (the dispatcher stops the run with it)."""
        valid = [payload for payload in payloads if payload is not None and self._encodable(payload)]
        if not valid:
            return 0
        stamps: list[tuple[str, int]] | None = None
        for entry in self._entries:
            if entry.stamped:
                if stamps is None:
                    stamps = [(self._own_boot, next(self._own_seq)) for _ in valid]
                entry.sink.publish_stamped(valid, stamps)  # type: ignore[attr-defined]
            else:
                seqs = _publish_many(entry.sink, valid)
                boot = str(getattr(entry.sink, "boot", self._own_boot))
                theirs = [(boot, int(seq)) for seq in seqs]
                if stamps is None:
                    stamps = theirs
                elif theirs != stamps and not self._mismatch_logged:
                    self._mismatch_logged = True
                    _log.warning("sink %s stamps results itself, differently from %s: its (boot, seq) cannot be "
                                 "joined with the other sinks'", entry.name, self._entries[0].name)
            entry.accepted += len(valid)
        return len(valid)

    def _encodable(self, payload: Mapping[str, Any]) -> bool:
        try:
            encode(payload)
        except (TypeError, ValueError) as exc:
            self._count_refusal(f"frame_ts {(payload.get('inputs') or {}).get('frame_ts')}", str(exc))
            return False
        return True

    def _count_refusal(self, which: str, reason: str) -> None:
        self.unencodable += 1
        self.last_refusal = f"a result is not JSON ({reason}): not published"
        if self.unencodable <= _LOGGED_UNENCODABLE:
            more = "; later ones are only counted (drops.unencodable)" if self.unencodable == _LOGGED_UNENCODABLE else ""
            _log.error("result of %s is not JSON (%s); not published%s", which, reason, more)

    def check_published(self, handed: int, published: int) -> None:
        """A run whose sinks refused every one of the ``handed`` results failed, even if nothing raised."""
        if not self._entries or handed == 0:
            return
        if published == 0:
            raise PipelineError(f"no result was published: all {handed} were refused; the last: "
                                f"{self.last_refusal or 'no reason given'}")
        for name, stats in self.stats().items():
            if isinstance(stats.get("accepted"), int) and stats["accepted"] == 0:  # the sink's own count
                raise PipelineError(f"no result was published: sink {name} accepted none of {handed}; "
                                    f"its last error: {stats.get('last_error') or 'none given'}")

    def counts(self) -> dict[str, dict[str, int]]:
        """``{sink name: {"accepted": n}}``: cheap, for every stats message."""
        return {e.name: {"accepted": e.accepted} for e in self._entries}

    def stats(self) -> dict[str, dict[str, Any]]:
        """Each sink's own ``stats()`` (whatever keys it returns) with ``accepted`` added; for the summary."""
        out: dict[str, dict[str, Any]] = {}
        for entry in self._entries:
            own: dict[str, Any] = {}
            method = getattr(entry.sink, "stats", None)
            if callable(method):
                try:
                    own = dict(method())
                except Exception:  # noqa: BLE001 - a sink's stats must not hide the others'
                    _log.warning("stats of sink %s failed", entry.name, exc_info=True)
            out[entry.name] = {"accepted": entry.accepted, **own}  # the sink's own count, when it keeps one
        return out


def _publish_many(sink: ResultSink, payloads: list[Mapping[str, Any]]) -> list[int]:
    many = getattr(sink, "publish_results", None)
    if callable(many):
        return list(many(payloads))
    return [sink.publish_result(payload) for payload in payloads]
