"""Choose a frame source from a URL-like spec, as pyserial's ``serial_for_url`` does for ports.

Other packages add schemes through the ``edge_sdk.sources`` entry point group: the entry's name is
the scheme and its value a callable ``(rest, config, name, media_clock) -> FrameSource``, where
``rest`` is the spec after ``scheme://``. The demo's ``seek://`` is one; the device package never
names it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from edge_sdk.clock import MediaClock
from edge_sdk.errors import ConfigError
from edge_sdk.sources.base import FrameSource
from edge_sdk.sources.config import CameraConfig, PlaybackMode, RunningMode

__all__ = ["SCHEMES", "SourceOpener", "camera_target", "open_frame_source", "plugin_schemes", "split_spec"]

_STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "tcp", "udp")
SCHEMES = ("camera", "file", "gst", "picamera2", "images", *_STREAM_SCHEMES)
_ENTRY_POINT_GROUP = "edge_sdk.sources"

SourceOpener = Callable[[str, CameraConfig, str, "MediaClock | None"], FrameSource]

DEVICE_DIR = "/dev/"
_VIDEO_NODE = re.compile(r"^/dev/video(\d+)$")


@functools.cache
def plugin_schemes() -> dict[str, Any]:
    """Scheme -> entry point of the installed ``edge_sdk.sources`` plugins (read once, loaded on use)."""
    from importlib.metadata import entry_points

    return {entry.name.lower(): entry for entry in entry_points(group=_ENTRY_POINT_GROUP)
            if entry.name.lower() not in SCHEMES}


def split_spec(spec: str) -> tuple[str, str]:
    """``"camera://0"`` -> ``("camera", "0")``; a plain path -> ``("file", path)`` (``"images"`` for a folder).

    A V4L2 device is a camera however it is written: ``camera://7``, a bare ``7`` or a device path
    (``/dev/video7``, ``/dev/v4l/by-id/...``) all give ``("camera", ...)``.
    """
    scheme, sep, rest = spec.partition("://")
    if not sep:
        if spec.strip().isdigit() or spec.startswith(DEVICE_DIR):
            return "camera", spec.strip()
        return ("images" if os.path.isdir(spec) else "file"), spec
    scheme = scheme.lower()
    if scheme not in SCHEMES and scheme not in plugin_schemes():
        valid = ", ".join((*SCHEMES, *sorted(plugin_schemes())))
        raise ConfigError(f"camera.source: unknown scheme {scheme!r} in {spec!r}. Valid schemes: {valid}")
    return scheme, rest


def open_frame_source(spec_or_config: str | CameraConfig | Mapping[str, Any], *,
                      playback: PlaybackMode | None = None) -> FrameSource:
    """Open the frame source a spec, a :class:`CameraConfig` or a config mapping names.

    ``playback`` overrides the config's (a spec string carries none; the default is ``realtime``).
    With ``every_frame`` the source gets a :class:`~edge_sdk.clock.MediaClock` (``source.media_clock``)
    that trace replays follow. Raises ConfigError for a bad spec and SourceError when the source
    cannot be opened.
    """
    if isinstance(spec_or_config, CameraConfig):
        config = spec_or_config
    elif isinstance(spec_or_config, str):
        config = CameraConfig(source=spec_or_config)
    else:
        config = CameraConfig.from_mapping(spec_or_config)
    if playback is not None:
        config = dataclasses.replace(config, playback=playback)
    media_clock = MediaClock() if config.mode is RunningMode.EVERY_FRAME else None
    scheme, rest = split_spec(config.source)
    name = config.name or scheme
    if scheme == "picamera2":
        from edge_sdk.sources.picamera import Picamera2Source

        return Picamera2Source(_int(rest or "0", config.source, "a camera index"), config, name, media_clock)
    if scheme == "camera":
        from edge_sdk.sources.opencv import OpenCVSource

        return OpenCVSource(camera_target(rest, config.source), "camera", config, name, media_clock)
    if scheme in ("file", "gst") or scheme in _STREAM_SCHEMES:
        from edge_sdk.sources.opencv import OpenCVSource

        if scheme == "file":
            return OpenCVSource(rest, "file", config, name, media_clock)
        if scheme == "gst":
            return OpenCVSource(rest, "gst", config, name, media_clock)
        return OpenCVSource(config.source, "stream", config, name, media_clock)
    if scheme == "images":
        from edge_sdk.sources.media import ImageFolderSource

        return ImageFolderSource(rest, config, name, media_clock)
    opener: SourceOpener = plugin_schemes()[scheme].load()
    return opener(rest, config, name, media_clock)


def camera_target(rest: str, spec: str) -> int | str:
    """What OpenCV opens for a camera spec: an index (``7``, ``/dev/video7``) or a device path (a symlink
    such as ``/dev/v4l/by-id/usb-...-video-index0``, opened with the V4L2 backend)."""
    rest = rest.strip() or "0"
    node = _VIDEO_NODE.match(rest)
    if node:
        return int(node.group(1))
    if rest.startswith(DEVICE_DIR):
        return rest
    return _int(rest, spec, "a camera index or a device path such as /dev/video0")


def _int(text: str, spec: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"camera.source: expected {what} in {spec!r}. Got: {text!r}") from None
