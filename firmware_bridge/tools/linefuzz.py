"""Hostile lines for line mode: what a buggy or noisy sketch can print, as raw bytes.

Used by the bench (``linemode_*`` figures) and the tests, which push these lines through the real
:class:`~firmware_bridge.link.linemode.LineReader` on a pty. Every line ends with ``\\n``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

__all__ = ["HOSTILE_KINDS", "hostile_line", "hostile_lines"]


def _huge_number(rng: random.Random) -> bytes:
    digits = "1" + "0" * rng.choice((400, 5000, 900))
    return rng.choice((b'{"d": %s}', b"d=%s", b"%s,1")) % digits.encode()


def _deep(rng: random.Random) -> bytes:
    depth = rng.choice((50, 200, 500, 1000))
    if rng.random() < 0.5:
        return b"[" * depth + b"]" * depth
    return b'{"a": ' * depth + b"1" + b"}" * depth


def _not_utf8(rng: random.Random) -> bytes:
    bad = bytes(rng.choice((0x80, 0xC0, 0xFF, 0xFE, 0xED)) for _ in range(rng.randrange(1, 6)))
    return rng.choice((b"distance_cm=4" + bad, bad + b'{"d": 1}', b"t_ms=1 " + bad + b"=2"))


def _long(rng: random.Random) -> bytes:
    n = rng.choice((1025, 4000, 70000))
    return rng.choice((b"x", b"9", b"d=1 ")) * n


def _non_finite(rng: random.Random) -> bytes:
    token = rng.choice((b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"nan", b"inf"))
    return rng.choice((b'{"d": %s}', b"d=%s", b"%s,%s")).replace(b"%s", token)


def _wrong_type(rng: random.Random) -> bytes:
    return rng.choice((
        b'{"d": "42"}', b'{"d": [1, 2]}', b'{"d": null}', b'{"d": {"x": 1}}', b"[1, 2, 3]", b'"text"',
        b"42", b'{"d": true}', b"{", b'{"d": 1', b"}", b'{"\\ud800": 1}', b"=1", b"d=", b"::::",
    ))  # fmt: skip


def _garbage(rng: random.Random) -> bytes:
    return bytes(rng.choice([b for b in range(256) if b != 0x0A]) for _ in range(rng.randrange(1, 120)))


def _valid(rng: random.Random) -> bytes:
    return rng.choice((b"distance_cm=%d", b'{"distance_cm": %d}', b"t_ms=5 distance_cm=%d")) % rng.randrange(1000)


HOSTILE_KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "huge_number": _huge_number,
    "deep_nesting": _deep,
    "not_utf8": _not_utf8,
    "very_long": _long,
    "non_finite": _non_finite,
    "wrong_type": _wrong_type,
    "garbage": _garbage,
    "valid": _valid,
}


def hostile_line(rng: random.Random, kind: str | None = None) -> bytes:
    """One line of ``kind`` (a key of :data:`HOSTILE_KINDS`; random when None), with its ``\\n``."""
    make = HOSTILE_KINDS[kind] if kind else rng.choice(list(HOSTILE_KINDS.values()))
    return make(rng) + rng.choice((b"\n", b"\r\n"))


def hostile_lines(rng: random.Random, n: int) -> Iterator[bytes]:
    for _ in range(n):
        yield hostile_line(rng)
