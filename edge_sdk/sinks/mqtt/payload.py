"""The result payload's delivery identity: schema name, device, ``boot``, ``seq`` and ``replayed``; and JSON.

The pipeline builds the result fields; the publisher (or a sink) stamps them here so that
``(boot, seq)`` is unique per message and consumers can drop duplicates after a replay.

Each result is encoded to JSON once. :func:`encode` keeps the bytes of an :class:`EncodedPayload`
(what ``Result.to_payload`` returns) on the payload itself, so the run's JSON check, the MQTT
outbox and the retained copy share one encoding; :meth:`ResultStamper.stamp_encoded` then writes the
stamp around those bytes (``{"schema":..,"device":..,"seq":..,"boot":.., <the fields>, "replayed":false}``),
the same message, key for key, as stamping the dict and encoding it again.

JSON is written by orjson when it is installed (the ``fast-json`` extra: about 1 us a result
against 15-20 us for the standard library's ``json``), else by ``json``. Both write compact JSON
with the keys in insertion order and refuse NaN and infinity (``ValueError``); they differ only in
spelling that JSON readers do not see (``1e-05`` or ``0.00001``; non-ASCII text escaped or UTF-8).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import uuid
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Self

try:  # the fast-json extra
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _orjson = None  # type: ignore[assignment]

__all__ = ["JSON_ENCODER", "RESULT_SCHEMA", "STATS_SCHEMA", "EncodedPayload", "ResultStamper", "Stamped", "encode",
           "encode_stamped", "mark_replayed"]

logger = logging.getLogger(__name__)

RESULT_SCHEMA = "edge_sdk.result/2"  # what the runtime publishes: a typed task result
RESULT_SCHEMAS = ("edge_sdk.result/1", RESULT_SCHEMA)  # /1: label, confidence, scores at the top (documented)
STATS_SCHEMA = "edge_sdk.stats/1"
_OWNED_KEYS = ("seq", "boot", "replayed")
JSON_ENCODER = "orjson" if _orjson is not None else "json"
_ORJSON_OPTIONS = _orjson.OPT_NON_STR_KEYS if _orjson is not None else 0  # int keys become strings, as in json


def _encode_stdlib(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _encode_orjson(payload: Any) -> bytes:
    assert _orjson is not None
    try:
        data: bytes = _orjson.dumps(payload, option=_ORJSON_OPTIONS)
    except _orjson.JSONEncodeError as exc:  # a TypeError, as json's for a value it cannot write
        raise TypeError(str(exc)) from exc
    if b"null" in data:
        # orjson writes NaN and infinity as null: only a payload with a null needs json's strict check
        json.dumps(payload, allow_nan=False)
    return data


_encode = _encode_orjson if _orjson is not None else _encode_stdlib


class EncodedPayload(dict[str, Any]):
    """A result payload (a plain dict to every reader) that keeps its JSON once :func:`encode` made it.

    Changing the payload through its own methods drops the kept bytes, so they never go stale.
    """

    __slots__ = ("encoded",)
    encoded: bytes

    def _changed(self) -> None:
        try:
            del self.encoded
        except AttributeError:
            pass

    def __setitem__(self, key: str, value: Any) -> None:
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._changed()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> Self:  # type: ignore[override,misc]
        self._changed()
        return super().__ior__(other)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().update(*args, **kwargs)

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> tuple[str, Any]:
        self._changed()
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(key, default)

    def clear(self) -> None:
        self._changed()
        super().clear()


def encode(payload: Any) -> bytes:
    """Compact JSON; NaN and infinity are refused (``ValueError``) because they are not JSON. The
    bytes of an :class:`EncodedPayload` are made once and kept on it."""
    if type(payload) is EncodedPayload:
        try:
            return payload.encoded
        except AttributeError:
            data = payload.encoded = _encode(payload)
            return data
    return _encode(payload)


# (seq, message) for the events topic, or (seq, message, topic): what MQTTLink.accept takes
Stamped = tuple[int, bytes | Mapping[str, Any]] | tuple[int, bytes | Mapping[str, Any], str]


def encode_stamped(stamped: Sequence[Stamped], strict: bool,
                   counts: MutableMapping[str, int]) -> list[tuple[int, bytes, str | None]]:
    """``(seq, JSON bytes, topic or None)`` of each stamped message. A message that is not JSON (NaN)
    raises when ``strict`` (nothing is taken), else is logged, counted (``unencodable``) and left out."""
    out: list[tuple[int, bytes, str | None]] = []
    for item in stamped:
        seq, data, topic = item[0], item[1], (item[2] if len(item) > 2 else None)
        if type(data) is not bytes:  # a stamped dict (bytes are JSON already)
            try:
                data = encode(data)
            except (TypeError, ValueError) as exc:
                if strict:
                    raise
                counts["unencodable"] += 1
                logger.error("result seq %d is not JSON (%s); not published", seq, exc)
                continue
        out.append((seq, data, topic))
    return out


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
        self._device_json = _encode(device_id)
        self._boot_json = _encode(self.boot)
        self._other_boot = ("", b"")
        # b'{"schema":"edge_sdk.result/2",': how an encoded result starts when the schema is its first key
        self._schema_heads = {schema: b'{"schema":' + _encode(schema) + b"," for schema in RESULT_SCHEMAS}

    def check(self, result: Mapping[str, Any]) -> str:
        """The result's schema; ``ValueError`` for a result this stamper must not stamp."""
        for key in _OWNED_KEYS:
            if key in result:
                raise ValueError(
                    f"result payload must not contain {key!r}: the publisher assigns seq, boot and replayed. "
                    f"Got keys: {sorted(result)}"
                )
        # a payload that does not say: v2 when it carries a task result, else the v1 shape
        schema: str = result.get("schema", RESULT_SCHEMA if "task" in result else RESULT_SCHEMAS[0])
        if schema not in RESULT_SCHEMAS:
            raise ValueError(f"result payload schema must be one of {RESULT_SCHEMAS}. Got: {schema!r}")
        device = result.get("device", self.device_id)
        if device != self.device_id:
            raise ValueError(f"result payload device must be {self.device_id!r}. Got: {device!r}")
        return schema

    def next_seq(self, count: int = 1) -> int:
        """Take ``count`` consecutive sequence numbers; return the first."""
        with self._lock:
            first = next(self._seq)
            for _ in range(count - 1):
                next(self._seq)
            self.last_seq = first + count - 1
        return first

    def stamp_encoded(self, result: Mapping[str, Any], schema: str, body: bytes, seq: int,
                      boot: str | None = None) -> bytes:
        """The JSON of :meth:`stamp`'s payload for ``result`` (checked: ``schema`` from :meth:`check`;
        ``body``: ``encode(result)``) with ``seq`` and ``boot`` (default: this stamper's), written around
        the result's own JSON instead of encoding a stamped copy."""
        if boot is None or boot == self.boot:
            boot_json = self._boot_json
        elif boot == self._other_boot[0]:  # the run's boot, for a sink that takes the run's stamps
            boot_json = self._other_boot[1]
        else:
            boot_json = _encode(boot)
            self._other_boot = (boot, boot_json)
        head = self._schema_heads[schema]
        if "device" in result or len(body) < 3:
            fields = None  # the device key sits second in the stamped message; an empty result: no fields
        elif "schema" in result:
            fields = body[len(head):-1] if body.startswith(head) else None  # else the schema is not the first key
        else:
            fields = body[1:-1]
        if fields is None:  # the rare shapes: stamp a copy and encode it
            seq_payload = self._stamped(result, schema, seq, boot or self.boot)
            return _encode(seq_payload)
        return b"".join((head, b'"device":', self._device_json, b',"seq":', b"%d" % seq, b',"boot":', boot_json,
                         b",", fields, b',"replayed":false}'))

    def _stamped(self, result: Mapping[str, Any], schema: str, seq: int, boot: str) -> dict[str, Any]:
        payload = {"schema": schema, "device": self.device_id, "seq": seq, "boot": boot}
        payload.update(result)
        payload["replayed"] = False
        return payload

    def stamp(self, result: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Return ``(seq, payload)``: the result with the schema and delivery fields added."""
        schema = self.check(result)
        seq = self.next_seq()
        return seq, self._stamped(result, schema, seq, self.boot)

    def stats_payload(self, stats: Mapping[str, Any], ts: float) -> dict[str, Any]:
        payload: dict[str, Any] = {"schema": STATS_SCHEMA, "device": self.device_id, "boot": self.boot, "ts": ts}
        payload.update(stats)
        return payload
