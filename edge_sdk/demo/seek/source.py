"""``seek://``: the seek clip generator played live as a frame source, no file in between.

Registered through the ``edge_sdk.sources`` entry point group (see setup.cfg), so the device's
source factory opens it like any other scheme without naming the demo.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from edge_sdk.clock import MediaClock
from edge_sdk.errors import ConfigError, SourceError
from edge_sdk.sources.config import CameraConfig
from edge_sdk.sources.media import IndexedSource

__all__ = ["SeekSource", "open_seek_source"]

_PARAMS: dict[str, type] = {"seconds": float, "fps": float, "seed": int, "size": int}


class SeekSource(IndexedSource):
    """The seek world rendered frame by frame (RGB), deterministic for a seed."""

    _color_order = "RGB"

    def __init__(self, config: CameraConfig, seconds: float = 30.0, fps: float = 15.0, seed: int = 0,
                 size: int | None = None, name: str | None = None, media_clock: MediaClock | None = None) -> None:
        from edge_sdk.demo.seek.video import SeekClip

        if seconds <= 0 or fps <= 0:
            raise SourceError(f"seek://: expected positive seconds and fps. Got: seconds={seconds}, fps={fps}")
        self.clip = SeekClip(seconds=seconds, fps=fps, size=size or config.width or 96, seed=seed)
        if self.clip.frame_count < 1:
            raise SourceError(f"seek://: the clip has no frames. Got: seconds={seconds}, fps={fps}")
        super().__init__(name or config.name or "seek", self.clip.frame_count, fps, config, media_clock)

    def _pixels(self, position: int) -> Any:
        from edge_sdk.demo.seek.world import render_scene

        return render_scene(self.clip.scene_at(position / self.fps), size=self.clip.size, supersample=2)


def open_seek_source(rest: str, config: CameraConfig, name: str, media_clock: MediaClock | None) -> SeekSource:
    """The ``edge_sdk.sources`` opener for ``seek://?seconds=30&fps=15&seed=0&size=96``."""
    return SeekSource(config, name=name, media_clock=media_clock, **_params(rest, config.source))


def _params(rest: str, spec: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in parse_qsl(rest.partition("?")[2], keep_blank_values=True):
        if key not in _PARAMS:
            raise ConfigError(f"camera.source: unknown seek:// parameter {key!r} in {spec!r}. "
                              f"Valid parameters: {', '.join(_PARAMS)}")
        try:
            params[key] = _PARAMS[key](value)
        except ValueError:
            raise ConfigError(f"camera.source: seek:// parameter {key} expects a number. Got: {value!r}") from None
    return params
