"""Options of the input sources: one frozen dataclass per component, built with configtools."""

from __future__ import annotations

import enum
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edge_sdk import configtools
from edge_sdk._cpus import usable_cpus
from edge_sdk.errors import ConfigError

__all__ = ["SENSOR_MAX_AGE_S", "AlignConfig", "CameraConfig", "PlaybackMode", "RunningMode", "SensorConfig", "TextConfig"]

PlaybackMode = Literal["realtime", "every_frame"]

SENSOR_MAX_AGE_S = 1.0
"""The one default max age of a sensor reading: ``sensor.max_age_s`` and ``SensorSlot(max_age_s=)``."""


class RunningMode(enum.Enum):
    """How a run treats time: the one switch (``camera.playback``), as MediaPipe Tasks have ``RunningMode``.

    The source, the capture hand-off, the callback queue and the trace replays all follow it, so a
    run cannot be paced like a camera in one stage and drained like a file in another.
    """

    REALTIME = "realtime"
    """Like a camera: files are paced at their frame rate, the newest frame wins, late frames are
    skipped and counted, callbacks that fall behind lose their oldest results (counted)."""
    EVERY_FRAME = "every_frame"
    """Like a batch job: no pacing, capture waits for inference, nothing is dropped, and trace
    replays follow the video's own clock (a :class:`~edge_sdk.clock.MediaClock`)."""


@dataclass(frozen=True)
class CameraConfig:
    """Where frames come from and how they are read."""

    source: str = field(metadata={"help": "camera://0 (or 0, /dev/video0, /dev/v4l/by-id/...: `edge-sdk cameras` lists "
                                          "them), file://clip.mp4 or a path, rtsp://, http://, tcp://, "
                                          "gst://<pipeline>, picamera2://0, images://folder; plugins add more, e.g. the demo's seek://?seconds=30&fps=15"})
    loop: bool = field(default=False, metadata={"help": "replay files, folders and seek clips from the start at the end (text and sensor trace files replay with each pass)"})
    playback: PlaybackMode = field(default="realtime", metadata={
        "help": "realtime: paced at the file's frame rate, late frames dropped (like a camera); "
                "every_frame: no pacing, capture blocks until inference took the previous frame"})
    width: int | None = field(default=None, metadata={"help": "requested capture width (a hint; cameras may ignore it)"})
    height: int | None = field(default=None, metadata={"help": "requested capture height (a hint)"})
    fps: float | None = field(default=None, metadata={
        "help": "requested camera rate; for files, images and seek the playback rate (default: the file's own)"})
    reconnect_min_s: float = field(default=0.5, metadata={"help": "first wait before reopening a failed source"})
    reconnect_max_s: float = field(default=10.0, metadata={"help": "longest wait between reopen attempts (doubling)"})
    reconnect_max_attempts: int | None = field(default=None, metadata={
        "help": "give up (fatal SourceError) after this many failed reopen attempts in a row, also for a camera "
                "that is not there at start; null = never (a service waits for its camera); 0 = fail at once"})
    read_timeout_s: float = field(default=5.0, metadata={"help": "open/read timeout for stream URLs (FFmpeg backend)"})
    decode_threads: int = field(default=1, metadata={
        "help": "FFmpeg decoder threads for files and streams. 1: lowest latency per frame and least CPU for "
                "camera-sized video (frame threading adds a frame of delay per thread and its hand-offs cost more "
                "than they save below about 720p); 0: FFmpeg picks one per core, for large high-bitrate files"})
    name: str | None = field(default=None, metadata={"help": "source name in frames and stats (default: the scheme)"})
    capture: Literal["auto", "thread", "process"] = field(default="thread", metadata={
        "help": "edge-sdk run: read and decode on a thread of the runtime process, or in a child process that "
                "decodes into shared memory, makes the model's image input there too (pipeline.prepare_ahead) and "
                "hands frames over in batches during every_frame playback (its own interpreter lock; frames are "
                "copied out, so they are the same either way); auto: the process when the runtime may use two or "
                "more CPUs (Linux). Measured on 2 cores (docs/benchmarks.md): 1.2x the results/s of the thread "
                "for a small model on 192x192 video, 0.97x for a 1.3 ms detector on 640x480 (whose capture "
                "thread already keeps up), 0.9x pinned to one core, and about 63 MB more memory (the child's "
                "own OpenCV); hence the thread by default"})

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ConfigError("camera.source: expected a source spec such as camera://0 or file://clip.mp4. Got: ''")
        for key in ("width", "height"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ConfigError(f"camera.{key}: expected a positive number of pixels. Got: {value}")
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"camera.fps: expected a positive frame rate. Got: {self.fps}")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ConfigError(f"camera.reconnect_min_s/reconnect_max_s: expected 0 < min <= max. "
                              f"Got: {self.reconnect_min_s}, {self.reconnect_max_s}")
        if self.decode_threads < 0:
            raise ConfigError(f"camera.decode_threads: expected 0 (FFmpeg's choice) or a thread count. Got: {self.decode_threads}")
        if self.read_timeout_s <= 0:
            raise ConfigError(f"camera.read_timeout_s: expected a positive number of seconds. Got: {self.read_timeout_s}")

    @property
    def mode(self) -> RunningMode:
        return RunningMode(self.playback)

    @property
    def capture_in_process(self) -> bool:
        """Whether ``capture`` means a capture process here (``auto``: two or more usable CPUs, as ``mqtt.delivery``)."""
        if self.capture != "auto":
            return self.capture == "process"
        if not sys.platform.startswith("linux"):  # the capture process's SOCK_SEQPACKET socket pair is Linux's
            return False
        return usable_cpus() >= 2

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "camera") -> CameraConfig:
        return configtools.build(cls, data, where)


@dataclass(frozen=True)
class TextConfig:
    """Where the text (command) input comes from."""

    source: Literal["none", "fixed", "stdin", "file", "mqtt"] | None = field(default=None, metadata={
        "help": "fixed (text.prompt), stdin, file, mqtt (the command topic), or none; "
                "null: fixed when a prompt is given, else none"})
    prompt: str = field(default="", metadata={"help": "the text for source=fixed"})
    path: str | None = field(default=None, metadata={
        "help": "for source=file: plain lines, or a JSON-lines commands trace {t_s, text} replayed on the run's clock"})
    max_age_s: float | None = field(default=None, metadata={"help": "older text counts as missing; null = never expires"})

    def __post_init__(self) -> None:
        if self.source is None:  # a prompt alone is a fixed text
            object.__setattr__(self, "source", "fixed" if self.prompt.strip() else "none")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "text") -> TextConfig:
        return configtools.build(cls, data, where)


@dataclass(frozen=True)
class SensorConfig:
    """Where sensor readings come from."""

    source: Literal["none", "stdin", "file", "mqtt", "bridge"] = field(default="none", metadata={
        "help": "none, stdin, file (JSON lines {distance_cm, ts} or a trace {t_s, distance_cm}), mqtt, or bridge"})
    path: str | None = field(default=None, metadata={"help": "for source=file"})
    max_age_s: float | None = field(default=SENSOR_MAX_AGE_S, metadata={
        "help": "older readings count as missing; null = never"})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "sensor") -> SensorConfig:
        return configtools.build(cls, data, where)


@dataclass(frozen=True)
class AlignConfig:
    """How text and sensor readings are matched to a frame."""

    policy: Literal["latest", "wait_fresh"] = field(default="latest", metadata={
        "help": "latest: newest reading within max age; wait_fresh: wait for a sensor reading newer than the frame"})
    wait_timeout_s: float = field(default=0.05, metadata={
        "help": "wait_fresh: longest wait for a fresh reading, then fall back to latest"})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "align") -> AlignConfig:
        return configtools.build(cls, data, where)
