"""Canonical JSON: the exact bytes a signature covers.

Keys sorted, no whitespace, UTF-8, and no floats (their text form differs between
implementations), as in TUF's and OLPC's canonical JSON. The signer and the device run this
same function, so a document re-serialised by any JSON tool still verifies.
"""

from __future__ import annotations

import json
from typing import Any

from edge_sdk.update.errors import ManifestError

__all__ = ["canonical_json"]


def canonical_json(value: Any) -> bytes:
    """``value`` (dicts, lists, str, int, bool, None) as canonical bytes; floats are refused."""
    _check(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _check(value: Any, where: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return
    if isinstance(value, float):
        raise ManifestError(f"{where}: floats have no canonical form; use an integer or a string. Got: {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ManifestError(f"{where}: keys must be strings. Got: {key!r}")
            _check(item, f"{where}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]")
        return
    raise ManifestError(f"{where}: expected JSON data. Got: {type(value).__name__}")
