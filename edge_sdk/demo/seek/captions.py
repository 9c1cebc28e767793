"""Captions of seek scenes and partial queries about them, with ground truth (numpy-free logic).

A scene's **description** names every shape with its size, colour and zone, in a canonical order
(zone left to right, then shape, then colour), so the same visible content always gets the same
words: "a small red circle on the left and a large blue square in the centre". A **query** names
one or two objects partially ("a blue square", "something red on the right"); it is kept in a
structured form (:class:`Query`) and :func:`matches` decides from that form, never from strings,
whether a scene fits it.

Zones are the world's own (:func:`~edge_sdk.demo.seek.world.label_for`: thirds of the width); a
shape is ``small`` when its radius is under :data:`SMALL_BELOW` (the middle of the world's radius
range), else ``large``. Captioned data (:func:`~edge_sdk.demo.seek.dataset.caption_scenes`) draws
radii clear of that cut by default, so the word always matches what 64 px show; the demo video's
continuous radii keep shapes near the cut, whose size word is then a fine call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge_sdk.demo.seek.world import COLORS, SHAPES, Scene, ShapeInstance

__all__ = [
    "SIZES",
    "SMALL_BELOW",
    "ZONES",
    "ZONE_WORDS",
    "ObjectFacts",
    "ObjectQuery",
    "Query",
    "describe",
    "describe_object",
    "distinct_queries",
    "matches",
    "object_facts",
    "query_for_scene",
    "random_query",
    "size_of",
    "zone_of",
]

ZONES = ("left", "center", "right")
SIZES = ("small", "large")
SMALL_BELOW = 0.115  # radius, fraction of width; the world draws radii in [0.09, 0.14) (captions: not 0.10-0.13)
ZONE_WORDS = {"left": "on the left", "center": "in the centre", "right": "on the right"}  # also the commands' (german.py)
_ZONE_WORDS = ZONE_WORDS


def zone_of(shape: ShapeInstance) -> str:
    """The world's zone of a shape's centre: thirds of the width, as :func:`label_for` uses."""
    if shape.x < 1 / 3:
        return "left"
    if shape.x < 2 / 3:
        return "center"
    return "right"


def size_of(shape: ShapeInstance) -> str:
    return "small" if shape.radius < SMALL_BELOW else "large"


@dataclass(frozen=True, order=True)
class ObjectFacts:
    """What a description says about one shape; ordered the way descriptions list shapes."""

    zone_index: int
    shape_index: int
    color_index: int
    size_index: int

    @property
    def zone(self) -> str:
        return ZONES[self.zone_index]

    @property
    def shape(self) -> str:
        return SHAPES[self.shape_index]

    @property
    def color(self) -> str:
        return list(COLORS)[self.color_index]

    @property
    def size(self) -> str:
        return SIZES[self.size_index]


def object_facts(scene: Scene) -> tuple[ObjectFacts, ...]:
    """The scene's shapes as facts, in description order."""
    colors = list(COLORS)
    return tuple(sorted(
        ObjectFacts(ZONES.index(zone_of(s)), SHAPES.index(s.shape), colors.index(s.color), SIZES.index(size_of(s)))
        for s in scene.shapes
    ))


def describe_object(facts: ObjectFacts) -> str:
    return f"a {facts.size} {facts.color} {facts.shape} {_ZONE_WORDS[facts.zone]}"


def describe(scene: Scene) -> str:
    """The full description: every shape, canonical order; "an empty scene" when there is none."""
    phrases = [describe_object(f) for f in object_facts(scene)]
    if not phrases:
        return "an empty scene"
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


@dataclass(frozen=True)
class ObjectQuery:
    """One object a query asks for; None leaves an attribute open. Colour or shape must be set."""

    color: str | None = None
    shape: str | None = None
    zone: str | None = None
    size: str | None = None

    def __post_init__(self) -> None:
        if self.color is None and self.shape is None:
            raise ValueError("an object query names a colour or a shape (or both). Got: neither")
        for name, value, allowed in (("color", self.color, tuple(COLORS)), ("shape", self.shape, SHAPES),
                                     ("zone", self.zone, ZONES), ("size", self.size, SIZES)):
            if value is not None and value not in allowed:
                raise ValueError(f"object query {name} must be one of {allowed} or None. Got: {value!r}")

    def fits(self, facts: ObjectFacts) -> bool:
        return ((self.color is None or self.color == facts.color) and (self.shape is None or self.shape == facts.shape)
                and (self.zone is None or self.zone == facts.zone) and (self.size is None or self.size == facts.size))

    @property
    def text(self) -> str:
        words = [w for w in (self.size, self.color) if w is not None]
        if self.shape is None:
            phrase = "something " + " ".join(words)
        else:
            phrase = "a " + " ".join([*words, self.shape])
        return phrase + (f" {_ZONE_WORDS[self.zone]}" if self.zone else "")


@dataclass(frozen=True)
class Query:
    """A partial query: every part must be fitted by some shape of the scene."""

    parts: tuple[ObjectQuery, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.parts) <= 2:
            raise ValueError(f"a query has one or two parts. Got: {len(self.parts)}")

    @property
    def text(self) -> str:
        return " and ".join(p.text for p in self.parts)


def matches(query: Query, scene: Scene | tuple[ObjectFacts, ...]) -> bool:
    """Ground truth: does ``scene`` hold, for every part of ``query``, a shape that fits it?

    ``scene`` may be given as its :func:`object_facts` (faster when many queries ask one scene).
    """
    facts = scene if isinstance(scene, tuple) else object_facts(scene)
    return all(any(part.fits(f) for f in facts) for part in query.parts)


def _open_some(rng: np.random.Generator, facts: ObjectFacts) -> ObjectQuery:
    """A query part for these facts with some attributes left open (colour or shape always kept)."""
    keep = rng.random(4) < (0.75, 0.75, 0.4, 0.25)  # colour, shape, zone, size
    if not keep[0] and not keep[1]:
        keep[int(rng.integers(2))] = True
    return ObjectQuery(
        color=facts.color if keep[0] else None,
        shape=facts.shape if keep[1] else None,
        zone=facts.zone if keep[2] else None,
        size=facts.size if keep[3] else None,
    )


def query_for_scene(rng: np.random.Generator, scene: Scene, two_parts: float = 0.15) -> Query:
    """A partial query that ``scene`` matches: one (sometimes two) of its shapes, partly described."""
    facts = object_facts(scene)
    if not facts:
        raise ValueError("an empty scene matches no query")
    order = rng.permutation(len(facts))
    count = 2 if len(facts) > 1 and rng.random() < two_parts else 1
    query = Query(tuple(_open_some(rng, facts[int(i)]) for i in order[:count]))
    assert matches(query, scene)
    return query


def random_query(rng: np.random.Generator) -> Query:
    """A single-object partial query drawn from the attribute space, independent of any scene."""
    colors = list(COLORS)
    facts = ObjectFacts(int(rng.integers(len(ZONES))), int(rng.integers(len(SHAPES))),
                        int(rng.integers(len(colors))), int(rng.integers(len(SIZES))))
    return Query((_open_some(rng, facts),))


def distinct_queries(rng: np.random.Generator, count: int, max_tries: int = 10_000) -> Iterator[Query]:
    """Up to ``count`` different single-object queries (by text), for evaluation."""
    seen: set[str] = set()
    for _ in range(max_tries):
        if len(seen) >= count:
            return
        query = random_query(rng)
        if query.text not in seen:
            seen.add(query.text)
            yield query
