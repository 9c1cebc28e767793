"""The "seek" world: scenes that need all three modalities to answer.

A scene has one to three coloured shapes; a command names one of them ("find the red circle"); an
ultrasonic sensor reports the distance ahead. The answer is where the named object is (``left``,
``center``, ``right``), ``absent`` when it is not in the scene, or ``blocked`` when the distance is
under :data:`BLOCKED_BELOW_CM`. Image-only or text-only models cannot solve it; a fused one can.

Everything is drawn with numpy (no OpenCV), seeded, so the same seed gives the same pixels
everywhere. Shapes are rendered supersampled and box-averaged, which equals OpenCV's INTER_AREA
downscale of a large frame, so video frames resized on the device look like training images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "BLOCKED_BELOW_CM",
    "COLORS",
    "COMMAND_TEMPLATES",
    "LABELS",
    "RADIUS_RANGE",
    "SEPARATED_RADIUS_RANGES",
    "SHAPES",
    "Scene",
    "ShapeInstance",
    "command_text",
    "label_for",
    "render_scene",
    "sample_scene",
]

COLORS: dict[str, tuple[int, int, int]] = {  # RGB
    "red": (215, 40, 35),
    "green": (40, 170, 60),
    "blue": (45, 75, 215),
    "yellow": (225, 205, 40),
}
SHAPES = ("circle", "square", "triangle")
LABELS = ("left", "center", "right", "absent", "blocked")
BLOCKED_BELOW_CM = 20.0
COMMAND_TEMPLATES = (
    "find the {color} {shape}",
    "where is the {color} {shape}",
    "go to the {color} {shape}",
    "seek {color} {shape}",
    "look for the {color} {shape}",
    "locate the {color} {shape}",
)
# Distances keep clear of the threshold so every label is unambiguous.
_BLOCKED_CM = (4.0, BLOCKED_BELOW_CM - 2.0)
_CLEAR_CM = (BLOCKED_BELOW_CM + 2.0, 250.0)
_ZONE_MARGIN = 0.04
RADIUS_RANGE = (0.09, 0.14)  # fraction of width; drawn uniformly
# For captioned data only: the same overall range with its middle third left out, so that "small"
# (under the cut at 0.115) and "large" differ by at least 0.03 of the width (about 2 px at 64 px)
# instead of touching at the cut. Classifier data and the demo video keep the continuous range.
SEPARATED_RADIUS_RANGES = ((0.09, 0.10), (0.13, 0.14))


@dataclass(frozen=True)
class ShapeInstance:
    shape: str
    color: str
    x: float  # centre, fraction of width
    y: float  # centre, fraction of height
    radius: float  # fraction of width
    angle_rad: float = 0.0
    tint: tuple[int, int, int] = (0, 0, 0)  # per-object colour jitter


@dataclass(frozen=True)
class Scene:
    shapes: tuple[ShapeInstance, ...]
    target_color: str
    target_shape: str
    distance_cm: float
    background_rgb: tuple[int, int, int]
    brightness: float
    gradient: tuple[float, float]  # relative brightness change across x and y
    noise_seed: int
    template: int = 0

    @property
    def text(self) -> str:
        return command_text(self.target_color, self.target_shape, self.template)

    @property
    def label(self) -> str:
        return label_for(self)

    def target(self) -> ShapeInstance | None:
        for s in self.shapes:
            if s.shape == self.target_shape and s.color == self.target_color:
                return s
        return None


def command_text(color: str, shape: str, template: int = 0) -> str:
    return COMMAND_TEMPLATES[template % len(COMMAND_TEMPLATES)].format(color=color, shape=shape)


def label_for(scene: Scene) -> str:
    """Ground truth: blocked wins; else where the named object is, or absent."""
    if scene.distance_cm < BLOCKED_BELOW_CM:
        return "blocked"
    target = scene.target()
    if target is None:
        return "absent"
    if target.x < 1 / 3:
        return "left"
    if target.x < 2 / 3:
        return "center"
    return "right"


def sample_scene(rng: np.random.Generator, label: str | None = None, separated_sizes: bool = False,
                 touching: float = 0.0, zone_margin: float = _ZONE_MARGIN) -> Scene:
    """A random scene whose ground truth is ``label`` (uniform over :data:`LABELS` when None).

    ``separated_sizes`` draws radii from :data:`SEPARATED_RADIUS_RANGES` instead of
    :data:`RADIUS_RANGE`, taking as many random numbers, for data captioned "small" or "large".
    Off, the scenes are exactly the classifier's and the video's.

    ``touching`` is the share of scenes where one more distractor touches or overlaps the target
    (drawn over or under it, its centre left visible), as drifting objects do in the video; in a
    scene without the target it touches another distractor. ``zone_margin`` (fraction of the
    width) keeps the target's centre that far from a zone border. The defaults (0 and 0.04) draw no extra random numbers, so seeded data is unchanged;
    bench/_video_gap.py measures what 0.3 and 0 do to the video's score.
    """
    if not 0.0 <= touching <= 1.0 or not 0.0 <= zone_margin < 1 / 6:
        raise ValueError(f"touching must be in [0, 1] and zone_margin in [0, 1/6). Got: {touching}, {zone_margin}")
    if label is None:
        label = LABELS[int(rng.integers(len(LABELS)))]
    if label not in LABELS:
        raise ValueError(f"label must be one of {LABELS}. Got: {label!r}")
    target_color = str(rng.choice(list(COLORS)))
    target_shape = str(rng.choice(SHAPES))
    blocked = label == "blocked"
    present = label in ("left", "center", "right") or (blocked and rng.random() < 0.6)
    shapes: list[ShapeInstance] = []
    if present:
        zone = label if label in ("left", "center", "right") else str(rng.choice(["left", "center", "right"]))
        shapes.append(_random_shape(rng, target_shape, target_color, shapes, zone, separated_sizes, zone_margin))
    for _ in range(int(rng.integers(0 if present else 1, 3))):
        shape, color = _distractor(rng, target_shape, target_color)
        placed = _try_place(rng, shape, color, shapes, None, separated_sizes)
        if placed is not None:
            shapes.append(placed)
    if touching > 0 and shapes and rng.random() < touching:
        # Against the target, or without one against a distractor: touching shapes must not say "present".
        shapes.append(_touching(rng, shapes[0], target_shape, target_color, separated_sizes))
    order = rng.permutation(len(shapes))
    low, high = _BLOCKED_CM if blocked else _CLEAR_CM
    distance = float(math.exp(rng.uniform(math.log(low), math.log(high))))
    gray = rng.integers(50, 200)
    background = tuple(int(np.clip(gray + rng.integers(-20, 21), 0, 255)) for _ in range(3))
    scene = Scene(
        shapes=tuple(shapes[i] for i in order),
        target_color=target_color,
        target_shape=target_shape,
        distance_cm=round(distance, 1),
        background_rgb=background,  # type: ignore[arg-type]
        brightness=float(rng.uniform(0.7, 1.2)),
        gradient=(float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.15, 0.15))),
        noise_seed=int(rng.integers(2**31)),
        template=int(rng.integers(len(COMMAND_TEMPLATES))),
    )
    if scene.label != label:  # a clear distance that rounds onto the threshold, never in practice
        scene = replace(scene, distance_cm=_CLEAR_CM[0] if label != "blocked" else _BLOCKED_CM[0])
    return scene


def _distractor(rng: np.random.Generator, shape: str, color: str) -> tuple[str, str]:
    """Same colour or same shape as the target, never both: the text must decide."""
    if rng.random() < 0.5:
        return str(rng.choice([s for s in SHAPES if s != shape])), color
    if rng.random() < 0.7:
        return shape, str(rng.choice([c for c in COLORS if c != color]))
    return str(rng.choice([s for s in SHAPES if s != shape])), str(rng.choice([c for c in COLORS if c != color]))


def _random_shape(
    rng: np.random.Generator, shape: str, color: str, others: list[ShapeInstance], zone: str | None = None,
    separated_sizes: bool = False, zone_margin: float = _ZONE_MARGIN,
) -> ShapeInstance:
    placed = None
    for _ in range(50):
        placed = _try_place(rng, shape, color, others, zone, separated_sizes, zone_margin)
        if placed is not None:
            return placed
    # crowded: accept an overlap rather than loop forever
    return _make_shape(rng, shape, color, zone, separated_sizes, zone_margin)


def _touching(rng: np.random.Generator, anchor: ShapeInstance, shape: str, color: str,
              separated_sizes: bool) -> ShapeInstance:
    """A distractor for the target ``shape`` and ``color`` touching or overlapping ``anchor``: its centre
    no nearer than 0.9 of its own radius, so at least about half of ``anchor`` stays in view whichever
    of the two is drawn on top."""
    shape, color = _distractor(rng, shape, color)
    other = _make_shape(rng, shape, color, None, separated_sizes)
    reach = anchor.radius + other.radius
    distance = float(rng.uniform(max(0.9 * other.radius, 0.3 * reach), 1.1 * reach))
    direction = float(rng.uniform(0, 2 * math.pi))
    dx, dy = distance * math.cos(direction), distance * math.sin(direction)
    x_range, y_range = (other.radius * 0.6, 1 - other.radius * 0.6), (other.radius, 1 - other.radius)
    # Off the frame on a side: go to the other side of the anchor instead, so clipping (a last
    # resort) never slides the distractor over the anchor's centre.
    if not x_range[0] <= anchor.x + dx <= x_range[1]:
        dx = -dx
    if not y_range[0] <= anchor.y + dy <= y_range[1]:
        dy = -dy
    return replace(other, x=float(np.clip(anchor.x + dx, *x_range)), y=float(np.clip(anchor.y + dy, *y_range)))


def _try_place(
    rng: np.random.Generator, shape: str, color: str, others: list[ShapeInstance], zone: str | None = None,
    separated_sizes: bool = False, zone_margin: float = _ZONE_MARGIN,
) -> ShapeInstance | None:
    candidate = _make_shape(rng, shape, color, zone, separated_sizes, zone_margin)
    for other in others:
        if math.hypot(candidate.x - other.x, candidate.y - other.y) < (candidate.radius + other.radius) * 1.05:
            return None
    return candidate


def _make_shape(
    rng: np.random.Generator, shape: str, color: str, zone: str | None, separated_sizes: bool = False,
    zone_margin: float = _ZONE_MARGIN,
) -> ShapeInstance:
    radius = float(rng.uniform(*RADIUS_RANGE))
    if separated_sizes:  # the same draw, mapped onto the two ranges (equal widths: half small, half large)
        (a0, a1), (b0, b1) = SEPARATED_RADIUS_RANGES
        share = (radius - RADIUS_RANGE[0]) / (RADIUS_RANGE[1] - RADIUS_RANGE[0]) * ((a1 - a0) + (b1 - b0))
        radius = a0 + share if share < a1 - a0 else b0 + share - (a1 - a0)
    if zone is None:
        x = float(rng.uniform(radius, 1 - radius))
    else:
        index = ("left", "center", "right").index(zone)
        low = max(index / 3 + zone_margin, radius * 0.6)
        high = min((index + 1) / 3 - zone_margin, 1 - radius * 0.6)
        x = float(rng.uniform(low, high))
    y = float(rng.uniform(radius, 1 - radius))
    tint = tuple(int(v) for v in rng.integers(-18, 19, size=3))
    return ShapeInstance(shape, color, x, y, radius, float(rng.uniform(-0.3, 0.3)), tint)  # type: ignore[arg-type]


def render_scene(scene: Scene, size: int = 64, supersample: int = 4, noise_std: float = 3.0) -> np.ndarray:
    """The scene as an RGB uint8 image of ``size`` x ``size``.

    Each shape's coverage is computed on a ``supersample``-times finer grid inside its bounding box
    and box-averaged: the same pixels as drawing at high resolution and shrinking with INTER_AREA,
    at a fraction of the cost.
    """
    canvas = np.empty((size, size, 3), dtype=np.float32)
    canvas[:] = np.asarray(scene.background_rgb, dtype=np.float32)
    for shape in scene.shapes:
        _draw(canvas, shape, supersample)
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    light = scene.brightness * (1 + scene.gradient[0] * ramp[None, :] + scene.gradient[1] * ramp[:, None])
    canvas *= light[:, :, None]
    if noise_std > 0:
        canvas += np.random.default_rng(scene.noise_seed).normal(0, noise_std, canvas.shape).astype(np.float32)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def _draw(canvas: np.ndarray, shape: ShapeInstance, supersample: int) -> None:
    size = canvas.shape[0]
    cx, cy, r = shape.x * size, shape.y * size, shape.radius * size
    x0, x1 = max(0, int(cx - r * 1.5)), min(size, int(cx + r * 1.5) + 1)
    y0, y1 = max(0, int(cy - r * 1.5)), min(size, int(cy + r * 1.5) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    step = 1.0 / supersample
    offsets = (np.arange(supersample, dtype=np.float32) + 0.5) * step
    xs = (np.arange(x0, x1, dtype=np.float32)[:, None] + offsets[None, :]).reshape(-1)
    ys = (np.arange(y0, y1, dtype=np.float32)[:, None] + offsets[None, :]).reshape(-1)
    dx, dy = xs[None, :] - cx, ys[:, None] - cy
    cos, sin = math.cos(shape.angle_rad), math.sin(shape.angle_rad)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # rotated frame
    if shape.shape == "circle":
        mask = dx * dx + dy * dy <= r * r
    elif shape.shape == "square":
        half = r * 0.85
        mask = (np.abs(u) <= half) & (np.abs(v) <= half)
    else:  # triangle pointing up, vertices on the circle of radius r
        mask = np.ones(np.broadcast_shapes(u.shape, v.shape), dtype=bool)
        for k in range(3):
            a = -math.pi / 2 + k * 2 * math.pi / 3
            b = a + 2 * math.pi / 3
            ax, ay, bx, by = r * math.cos(a), r * math.sin(a), r * math.cos(b), r * math.sin(b)
            mask &= (bx - ax) * (v - ay) - (by - ay) * (u - ax) >= 0
    h, w = y1 - y0, x1 - x0
    coverage = mask.reshape(h, supersample, w, supersample).mean(axis=(1, 3), dtype=np.float32)[:, :, None]
    color = np.clip(np.asarray(COLORS[shape.color]) + np.asarray(shape.tint), 0, 255).astype(np.float32)
    region = canvas[y0:y1, x0:x1]
    region += coverage * (color - region)
