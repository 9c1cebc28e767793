"""Seek clips: objects drifting across the frame, with matching command and sensor traces.

A clip is what a robot would see: a video file, a stream of text commands that change every few
seconds, and an ultrasonic distance trace that now and then dips under the blocking threshold.
Ground truth comes per frame. The runtime plays the three back as its camera, text and sensor
sources; the bridge's simulator replays the distance trace.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_sdk._lazy import require
from edge_sdk.demo.seek.world import COLORS, SHAPES, Scene, command_text, render_scene, sample_scene

__all__ = ["ClipFrame", "ClipPaths", "SeekClip", "write_clip"]


@dataclass(frozen=True)
class ClipFrame:
    index: int
    t_s: float
    rgb: np.ndarray
    text: str
    distance_cm: float
    label: str


@dataclass(frozen=True)
class ClipPaths:
    video: Path
    truth: Path  # JSON lines: {"frame", "t_s", "label", "text", "distance_cm"}
    commands: Path  # JSON lines: {"t_s", "text"}
    sensor: Path  # JSON lines: {"t_s", "distance_cm"}


class SeekClip:
    """A deterministic seek clip; iterate it for frames with ground truth."""

    def __init__(
        self,
        seconds: float = 30.0,
        fps: float = 15.0,
        size: int = 192,
        seed: int = 0,
        command_period_s: float = 4.0,
        sensor_hz: float = 20.0,
    ) -> None:
        self.seconds, self.fps, self.size, self.seed = seconds, fps, size, seed
        self.command_period_s, self.sensor_hz = command_period_s, sensor_hz
        rng = np.random.default_rng(seed)
        self._base: Scene = sample_scene(rng, label="center")
        while len(self._base.shapes) < 2:
            self._base = sample_scene(rng, label="center")
        self._velocity = [(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.05, 0.05))) for _ in self._base.shapes]
        self._commands = self._plan_commands(rng)
        self._dips = self._plan_dips(rng)

    @property
    def frame_count(self) -> int:
        return int(self.seconds * self.fps)

    def command_at(self, t_s: float) -> str:
        return self._commands[min(int(t_s // self.command_period_s), len(self._commands) - 1)]

    def distance_at(self, t_s: float) -> float:
        """Smooth wander between 40 and 160 cm, with scheduled dips to about 10 cm."""
        distance = 100 + 60 * math.sin(t_s * 0.7 + self.seed) * math.cos(t_s * 0.23)
        for start, length in self._dips:
            if start <= t_s < start + length:
                return 10.0 + 3.0 * math.sin(t_s * 5)
        return round(distance, 1)

    def scene_at(self, t_s: float) -> Scene:
        shapes = []
        for shape, (vx, vy) in zip(self._base.shapes, self._velocity):
            shapes.append(replace(shape, x=_bounce(shape.x + vx * t_s, shape.radius), y=_bounce(shape.y + vy * t_s, shape.radius)))
        color, kind = self.command_at(t_s).split()[-2:]
        return replace(
            self._base, shapes=tuple(shapes), target_color=color, target_shape=kind, distance_cm=self.distance_at(t_s),
            noise_seed=self._base.noise_seed + int(t_s * 1000),
        )

    def __iter__(self) -> Iterator[ClipFrame]:
        for index in range(self.frame_count):
            t_s = index / self.fps
            scene = self.scene_at(t_s)
            yield ClipFrame(index, t_s, render_scene(scene, size=self.size, supersample=2), scene.text, scene.distance_cm, scene.label)

    def _plan_commands(self, rng: np.random.Generator) -> list[str]:
        present = [(s.color, s.shape) for s in self._base.shapes]
        count = max(1, math.ceil(self.seconds / self.command_period_s))
        commands = []
        for i in range(count):
            if i % 3 == 2:  # every third command names something that is not there
                while True:
                    pick = (str(rng.choice(list(COLORS))), str(rng.choice(SHAPES)))
                    if pick not in present:
                        break
            else:
                pick = present[int(rng.integers(len(present)))]
            commands.append(command_text(pick[0], pick[1], int(rng.integers(6))))
        return commands

    def _plan_dips(self, rng: np.random.Generator) -> list[tuple[float, float]]:
        dips, t = [], float(rng.uniform(3, 6))
        while t < self.seconds:
            length = float(rng.uniform(0.8, 1.6))
            dips.append((t, length))
            t += length + float(rng.uniform(5, 9))
        return dips


def _bounce(position: float, radius: float) -> float:
    """Reflect a drifting coordinate off the frame edges (kept inside by the radius)."""
    low, high = radius, 1 - radius
    span = high - low
    phase = (position - low) % (2 * span)
    return low + (phase if phase <= span else 2 * span - phase)


def write_clip(path: str | Path, clip: SeekClip) -> ClipPaths:
    """Encode ``clip`` to ``path`` (``.mp4`` or ``.avi``) and write its traces beside it."""
    cv2 = require("cv2", "writing seek videos")
    video = Path(path)
    video.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if video.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(video), fourcc, clip.fps, (clip.size, clip.size))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write video {video} (codec {'MJPG' if video.suffix == '.avi' else 'mp4v'})")
    stem = video.with_suffix("")
    paths = ClipPaths(video, Path(f"{stem}.truth.jsonl"), Path(f"{stem}.commands.jsonl"), Path(f"{stem}.sensor.jsonl"))
    try:
        with paths.truth.open("w") as truth:
            for frame in clip:
                writer.write(np.ascontiguousarray(frame.rgb[:, :, ::-1]))
                record = {"frame": frame.index, "t_s": round(frame.t_s, 4), "label": frame.label,
                          "text": frame.text, "distance_cm": frame.distance_cm}
                truth.write(json.dumps(record) + "\n")
    finally:
        writer.release()
    with paths.commands.open("w") as commands:
        for i in range(max(1, math.ceil(clip.seconds / clip.command_period_s))):
            t_s = i * clip.command_period_s
            commands.write(json.dumps({"t_s": t_s, "text": clip.command_at(t_s)}) + "\n")
    with paths.sensor.open("w") as sensor:
        for i in range(int(clip.seconds * clip.sensor_hz)):
            t_s = i / clip.sensor_hz
            sensor.write(json.dumps({"t_s": round(t_s, 4), "distance_cm": clip.distance_at(t_s)}) + "\n")
    return paths
