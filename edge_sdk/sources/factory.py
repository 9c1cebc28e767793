"""Choose a frame source from a URL-like spec, as pyserial's ``serial_for_url`` does for ports."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from edge_sdk.clock import MediaClock
from edge_sdk.errors import ConfigError
from edge_sdk.sources.base import FrameSource
from edge_sdk.sources.config import CameraConfig

__all__ = ["SCHEMES", "open_frame_source", "split_spec"]

_STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "tcp", "udp")
SCHEMES = ("camera", "file", "gst", "picamera2", "images", "seek", *_STREAM_SCHEMES)
_SEEK_PARAMS = {"seconds": float, "fps": float, "seed": int, "size": int}


def split_spec(spec: str) -> tuple[str, str]:
    """``"camera://0"`` -> ``("camera", "0")``; a plain path -> ``("file", path)`` (``"images"`` for a folder)."""
    scheme, sep, rest = spec.partition("://")
    if not sep:
        return ("images" if os.path.isdir(spec) else "file"), spec
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(f"camera.source: unknown scheme {scheme!r} in {spec!r}. Valid schemes: {', '.join(SCHEMES)}")
    return scheme, rest


def open_frame_source(spec_or_config: str | CameraConfig | Mapping[str, Any],
                      media_clock: MediaClock | None = None) -> FrameSource:
    """Open the frame source a spec, a :class:`CameraConfig` or a config mapping names.

    ``media_clock``: pass a :class:`~edge_sdk.clock.MediaClock` to let a file, folder or seek clip
    drive trace replays (``every_frame`` playback). Raises ConfigError for a bad spec and
    SourceError when the source cannot be opened.
    """
    if isinstance(spec_or_config, CameraConfig):
        config = spec_or_config
    elif isinstance(spec_or_config, str):
        config = CameraConfig(source=spec_or_config)
    else:
        config = CameraConfig.from_mapping(spec_or_config)
    scheme, rest = split_spec(config.source)
    name = config.name or scheme
    if scheme in ("camera", "picamera2"):
        index = _int(rest or "0", config.source, "a camera index")
        if scheme == "picamera2":
            from edge_sdk.sources.picamera import Picamera2Source

            return Picamera2Source(index, config, name, media_clock)
        from edge_sdk.sources.opencv import OpenCVSource

        return OpenCVSource(index, "camera", config, name, media_clock)
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
    from edge_sdk.sources.media import SeekSource

    return SeekSource(config, name=name, media_clock=media_clock, **_seek_params(rest, config.source))


def _seek_params(rest: str, spec: str) -> dict[str, Any]:
    query = rest.partition("?")[2]
    params: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _SEEK_PARAMS:
            raise ConfigError(f"camera.source: unknown seek:// parameter {key!r} in {spec!r}. "
                              f"Valid parameters: {', '.join(_SEEK_PARAMS)}")
        kind = _SEEK_PARAMS[key]
        try:
            params[key] = kind(value)
        except ValueError:
            raise ConfigError(f"camera.source: seek:// parameter {key} expects a number. Got: {value!r}") from None
    return params


def _int(text: str, spec: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"camera.source: expected {what} in {spec!r}. Got: {text!r}") from None
