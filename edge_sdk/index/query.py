"""Search queries against the index: ``cmd/search`` over MQTT, and the payloads both ways.

A query (``edge_sdk.search-query/1``, schema in ``edge_sdk/schemas/search-query-1.json``)::

    {"request_id": "q-17", "text": "a red circle on the left", "k": 5, "since": "10m"}

is answered on ``<prefix>/<device>/search/result`` (``edge_sdk.search-result/1``) with the top-k
frames, best first: frame id, frame time, cosine score, and the topic that carries the frame's JPEG
thumbnail (``<prefix>/<device>/search/thumbnail/<frame_id>``, published just before the result).
A query that cannot be answered (not JSON, a missing field, a text query with no text embedding)
gets ``"ok": false`` with the reason and, when it could be read, its request id; the run goes on.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from edge_sdk.errors import InputError
from edge_sdk.index.store import Index, SearchHit

__all__ = ["QUERY_SCHEMA", "RESULT_SCHEMA", "SearchQuery", "SearchService", "parse_duration_s", "parse_query"]

_log = logging.getLogger(__name__)
QUERY_SCHEMA = "edge_sdk.search-query/1"
RESULT_SCHEMA = "edge_sdk.search-result/1"
MAX_K = 100
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_KEYS = {"schema", "request_id", "text", "vector", "k", "since", "thumbnails"}

PublishBytes = Callable[[str, bytes, int], object]  # (topic, payload, qos)


def parse_duration_s(value: str | float, where: str = "since") -> float:
    """``"90s"``, ``"10m"``, ``"2h"``, ``"1d"`` or a number of seconds -> seconds (positive)."""
    if isinstance(value, bool):
        raise InputError(f"{where}: expected a duration such as 90s, 10m, 2h or 1d. Got: {value!r}")
    if isinstance(value, float | int):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise InputError(f"{where}: expected a duration such as 90s, 10m, 2h or 1d. Got: {value!r}")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InputError(f"{where}: expected a positive duration. Got: {value!r}")
    return seconds


class SearchQuery:
    """A checked query: ``text`` or ``vector``, ``k``, ``since_s``, and whether to send thumbnails."""

    __slots__ = ("k", "request_id", "since_s", "text", "thumbnails", "vector")

    def __init__(self, request_id: str, text: str | None, vector: list[float] | None, k: int, since_s: float | None,
                 thumbnails: bool) -> None:
        self.request_id, self.text, self.vector, self.k = request_id, text, vector, k
        self.since_s, self.thumbnails = since_s, thumbnails

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"k": self.k, "since_s": self.since_s}
        if self.text is not None:
            out["text"] = self.text
        else:
            out["vector_dim"] = len(self.vector or ())
        return out


def parse_query(data: Any) -> SearchQuery:
    """Check a decoded ``edge_sdk.search-query/1`` object; :class:`InputError` says what is wrong."""
    if not isinstance(data, Mapping):
        raise InputError(f"expected a JSON object with request_id and text. Got: {type(data).__name__}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r}. Valid keys: {', '.join(sorted(_KEYS))}")
    if data.get("schema", QUERY_SCHEMA) != QUERY_SCHEMA:
        raise InputError(f"schema: expected {QUERY_SCHEMA!r}. Got: {data.get('schema')!r}")
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 128:
        raise InputError(f"request_id: expected a string of 1 to 128 characters. Got: {request_id!r}")
    text, vector = data.get("text"), data.get("vector")
    if (text is None) == (vector is None):
        raise InputError("expected exactly one of text (a description) and vector (an embedding)")
    if text is not None and (not isinstance(text, str) or not text.strip() or len(text) > 1000):
        raise InputError(f"text: expected a non-empty description of at most 1000 characters. Got: {text!r}")
    if vector is not None and (not isinstance(vector, list) or not vector
                               or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector)):
        raise InputError("vector: expected a non-empty list of numbers")
    k = data.get("k", 5)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InputError(f"k: expected a whole number from 1 to {MAX_K}. Got: {k!r}")
    since = data.get("since")
    since_s = parse_duration_s(since) if since is not None else None
    thumbnails = data.get("thumbnails", True)
    if not isinstance(thumbnails, bool):
        raise InputError(f"thumbnails: expected true or false. Got: {thumbnails!r}")
    return SearchQuery(request_id, text.strip() if text is not None else None, vector, k, since_s, thumbnails)


class SearchService:
    """Answers queries against ``index``; ``publish`` sends bytes to a topic (the MQTT sink's ``publish_raw``)."""

    def __init__(self, index: Index, *, device: str, base_topic: str, publish: PublishBytes) -> None:
        self.index, self.device, self.base_topic, self._publish = index, device, base_topic, publish
        self.counts = {"answered": 0, "errors": 0}

    @property
    def result_topic(self) -> str:
        return f"{self.base_topic}/search/result"

    def thumbnail_topic(self, frame_id: int) -> str:
        return f"{self.base_topic}/search/thumbnail/{frame_id}"

    def answer(self, data: Any) -> dict[str, Any]:
        """The result payload for a decoded query (an ``ok: false`` payload for a bad one)."""
        return self._answer(data)[0]

    def _answer(self, data: Any) -> tuple[dict[str, Any], bool]:
        request_id = data.get("request_id") if isinstance(data, Mapping) else None
        request_id = request_id if isinstance(request_id, str) else None
        started = time.perf_counter()
        try:
            query = parse_query(data)
            hits = self.index.search(query.text if query.text is not None else query.vector,  # type: ignore[arg-type]
                                     k=query.k, since_s=query.since_s)
        except InputError as exc:
            self.counts["errors"] += 1
            return self._error(request_id, str(exc)), False
        took_ms = (time.perf_counter() - started) * 1000
        self.counts["answered"] += 1
        return {"schema": RESULT_SCHEMA, "device": self.device, "request_id": query.request_id, "ts": time.time(),
                "ok": True, "query": query.describe(), "took_ms": round(took_ms, 3),
                "index": {"frames": len(self.index)},
                "hits": [self._hit(rank, hit) for rank, hit in enumerate(hits, 1)]}, query.thumbnails

    def handle_text(self, payload: str) -> None:
        """The ``cmd/search`` handler: decode, answer, publish thumbnails then the result. Never raises."""
        try:
            data = json.loads(payload)
        except ValueError as exc:
            self.counts["errors"] += 1
            reply, send_thumbnails = self._error(None, f"expected a JSON object. Got: not JSON ({exc})"), False
        else:
            try:
                reply, send_thumbnails = self._answer(data)
            except Exception as exc:  # noqa: BLE001 - the interpreter or the disk failed: say so to the asker
                _log.exception("search query failed")
                self.counts["errors"] += 1
                request_id = data.get("request_id") if isinstance(data, Mapping) else None
                reply = self._error(request_id if isinstance(request_id, str) else None, f"search failed: {exc}")
                send_thumbnails = False
        if send_thumbnails:
            for hit in reply["hits"]:
                jpeg = self.index.thumbnail(hit["frame_id"])
                if jpeg is not None:
                    self._publish(hit["thumbnail_topic"], jpeg, 1)
        self._publish(self.result_topic, json.dumps(reply, allow_nan=False).encode(), 1)
        if not reply["ok"]:
            _log.warning("search query %s refused: %s", reply["request_id"], reply["error"])

    def _hit(self, rank: int, hit: SearchHit) -> dict[str, Any]:
        out: dict[str, Any] = {"rank": rank, "frame_id": hit.frame_id, "frame_ts": hit.frame_ts,
                               "score": round(hit.score, 5)}
        out["thumbnail_topic"] = self.thumbnail_topic(hit.frame_id) if hit.has_thumbnail else None
        return out

    def _error(self, request_id: str | None, message: str) -> dict[str, Any]:
        return {"schema": RESULT_SCHEMA, "device": self.device, "request_id": request_id, "ts": time.time(),
                "ok": False, "error": message}
