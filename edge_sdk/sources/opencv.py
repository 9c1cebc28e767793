"""OpenCV VideoCapture sources: device index, video file, stream URL, GStreamer pipeline.

Verified against opencv-python-headless 5.0 (FFmpeg backend): ``CAP_PROP_FPS`` and
``CAP_PROP_FRAME_COUNT`` are read from the container; ``read()`` after the last frame returns
``(False, None)`` and keeps doing so; ``set(CAP_PROP_POS_FRAMES, n)`` seeks exactly (decoding from
the previous key frame); ``CAP_PROP_POS_MSEC`` reads 0 at end of file, so positions are counted
here instead. A nonexistent, empty or corrupt file fails ``isOpened()``. The pip wheels have no
GStreamer, so ``gst://`` needs a distro OpenCV (:mod:`edge_sdk.sources.gstreamer` says how).

A read failure on a live source (camera, stream, pipeline) closes the capture and reopens it with
exponential backoff. A camera that cannot be opened at all is retried the same way, from the first
``read()`` on (``camera.reconnect_max_attempts``: null waits for it forever, 0 fails at once), so a
service can start before its USB camera is plugged in. For a file, a failed read before the frame count in its header is a failure
too (the file was truncated or replaced); after reopening, playback resumes at the same frame.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Literal

from edge_sdk._lazy import require
from edge_sdk.clock import MediaClock, now_s
from edge_sdk.errors import SourceError
from edge_sdk.sources.base import Backoff, FrameSource, Pacer, SourceState
from edge_sdk.sources.config import CameraConfig, RunningMode
from edge_sdk.sources.frame import Frame

__all__ = ["OpenCVSource"]

log = logging.getLogger(__name__)

Kind = Literal["camera", "file", "stream", "gst"]


class OpenCVSource(FrameSource):
    """Frames from ``cv2.VideoCapture`` (BGR). Opening fails fast with :class:`SourceError`."""

    def __init__(self, target: str | int, kind: Kind, config: CameraConfig, name: str | None = None,
                 media_clock: MediaClock | None = None) -> None:
        super().__init__(name or config.name or kind, media_clock, config.mode)
        self._cv2: Any = require("cv2", f"{kind} sources (OpenCV VideoCapture)")
        self._target, self._kind, self._config = target, kind, config
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s, config.reconnect_max_attempts, self._stop)
        self._cap: Any = None
        self._index = 0  # frames emitted
        self._position = 0  # next frame within the file
        self._play_index = 0  # frames played including loops and skips: drives pacing
        self._failed_position: int | None = None
        self._cap = self._open_first()
        self._ever_opened = self._cap is not None
        self.fps = self._fps()
        self.frame_count = int(self._cap.get(self._cv2.CAP_PROP_FRAME_COUNT)) if kind == "file" else 0
        realtime = kind == "file" and config.mode is RunningMode.REALTIME
        self._pacer = Pacer(self.fps, self._stop) if realtime else None

    # opening ------------------------------------------------------------------------------------
    def _open_first(self) -> Any:
        """The capture, or None for a camera not there (yet): then reads retry it with backoff."""
        if self._kind == "file" and not os.path.isfile(str(self._target)):
            raise SourceError(f"{self.name}: video file not found: {self._target}")
        if self._kind == "gst" and not self._cv2.videoio_registry.hasBackend(self._cv2.CAP_GSTREAMER):
            from edge_sdk.sources.gstreamer import no_gstreamer_message

            raise SourceError(f"{self.name}: {no_gstreamer_message()}")
        cap = self._open()
        if cap is None and self._kind == "camera" and self._config.reconnect_max_attempts != 0:
            limit = self._config.reconnect_max_attempts
            log.warning("%s: %s; retrying %s (camera.reconnect_max_attempts; `edge-sdk cameras` lists the cameras)",
                        self.name, self._not_opened(), "forever" if limit is None else f"up to {limit} times")
            self._read_failures += 1
            self._state = SourceState.RECONNECTING
        elif cap is None:
            raise SourceError(f"{self.name}: {self._not_opened()}")
        return cap

    def _not_opened(self) -> str:
        what = {"file": "cannot decode this file as video (not a video, corrupt or unsupported codec)",
                "camera": "cannot open camera device " + ("index" if isinstance(self._target, int) else "path"),
                "stream": f"cannot open stream within {self._config.read_timeout_s:g} s",
                "gst": "GStreamer cannot start this pipeline"}[self._kind]
        return f"{what}: {self._target}"

    def _open(self) -> Any:
        cv2 = self._cv2
        timeout_ms = int(self._config.read_timeout_s * 1000)
        if self._kind == "file" and not os.path.isfile(str(self._target)):
            return None
        try:
            if self._kind == "stream":
                params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
                cap = cv2.VideoCapture(self._target, cv2.CAP_FFMPEG, params + self._thread_params())
            elif self._kind == "gst":
                cap = cv2.VideoCapture(self._target, cv2.CAP_GSTREAMER)
            elif self._kind == "file":
                cap = cv2.VideoCapture(str(self._target), cv2.CAP_FFMPEG, self._thread_params())
            elif isinstance(self._target, int):
                cap = cv2.VideoCapture(self._target, cv2.CAP_ANY)
            else:  # a device path such as /dev/v4l/by-id/...: only the V4L2 backend opens those
                cap = cv2.VideoCapture(self._target, cv2.CAP_V4L2)
        except cv2.error as exc:
            log.warning("%s: OpenCV raised while opening %s: %s", self.name, self._target, exc)
            return None
        if not cap.isOpened():
            cap.release()
            return None
        if self._kind == "camera":  # hints; drivers pick the nearest mode they support
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self._config.width),
                                (cv2.CAP_PROP_FRAME_HEIGHT, self._config.height), (cv2.CAP_PROP_FPS, self._config.fps)):
                if value is not None:
                    cap.set(prop, value)
        if self._kind == "file" and self._position > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, self._position)
        return cap

    def _thread_params(self) -> list[int]:
        # CAP_PROP_N_THREADS came with OpenCV 4.6; older builds (Debian's, Raspberry Pi OS's) decode
        # with FFmpeg's own default
        threads = self._config.decode_threads
        prop = getattr(self._cv2, "CAP_PROP_N_THREADS", None)
        return [] if threads == 0 or prop is None else [prop, threads]

    def _fps(self) -> float:
        if self._config.fps is not None:
            return float(self._config.fps)
        if self._cap is None:  # a camera not opened yet: read once it is
            return 0.0
        fps = float(self._cap.get(self._cv2.CAP_PROP_FPS))
        if math.isfinite(fps) and 0 < fps < 1000:
            return fps
        if self._kind == "file" and self._config.mode is RunningMode.REALTIME:
            raise SourceError(f"{self.name}: the file does not state a frame rate (CAP_PROP_FPS={fps}); "
                              "set camera.fps to play it in real time")
        return 0.0

    # reading ------------------------------------------------------------------------------------
    def _read(self) -> Frame | None:
        while not self._stop.is_set():
            if self._cap is None and not self._reopen():
                return None
            if self._pacer is not None:
                self._skip_late_frames()
                if self._at_end_of_file() and not self._rewind():
                    return None
                self._pacer.wait(self._play_index)
            read_start_s = now_s()
            ok, pixels = self._cap.read()
            timestamp_s = now_s()
            if ok and pixels is not None:
                self._backoff.reset()
                self._failed_position = None
                media_t_s = self._position / self.fps if self._kind == "file" and self.fps else None
                frame = Frame(pixels, "BGR", timestamp_s, self._index, self.name, media_t_s,
                              read_ms=(timestamp_s - read_start_s) * 1000.0)
                self._index += 1
                self._position += 1
                self._play_index += 1
                return frame
            if self._kind == "file" and (self._at_end_of_file() or self._failed_position == self._position):
                if self._failed_position == self._position:
                    log.warning("%s: file ends at frame %d although its header says %d", self.name, self._position,
                                self.frame_count)
                    self.frame_count = self._position
                if not self._rewind():
                    return None
                continue
            self._read_failures += 1
            self._failed_position = self._position
            log.warning("%s: read failed after %d frames; reconnecting", self.name, self._index)
            self._release()
            self._state = SourceState.RECONNECTING
        return None

    def _at_end_of_file(self) -> bool:
        return self._kind == "file" and (self.frame_count <= 0 or self._position >= self.frame_count)

    def _rewind(self) -> bool:
        """At end of file: loop back (True) or end (False)."""
        if not self._config.loop or self._position == 0:
            return False
        self._loops += 1
        self._position = 0
        if self.fps:  # every frame of the file was played (read or, in real time, skipped): the pass starts there
            self._begin_pass(self._play_index / self.fps)
        if not self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, 0):
            self._release()  # some containers cannot seek: reopen from the start instead
            return self._reopen()
        return True

    def _skip_late_frames(self) -> None:
        assert self._pacer is not None
        late = self._pacer.late_frames(self._play_index)
        if not self._config.loop and self.frame_count > 0:  # a late reader still gets the last frame
            late = min(late, self.frame_count - 1 - self._position)
        for _ in range(late):
            if self._at_end_of_file() or not self._cap.grab():
                return
            self._position += 1
            self._play_index += 1
            self._frames_skipped += 1

    def _reopen(self) -> bool:
        while True:
            if not self._backoff.wait():
                if self._stop.is_set():
                    return False
                self._state = SourceState.FAILED
                if not self._ever_opened:
                    raise SourceError(f"{self.name}: {self._not_opened()}; gave up after the first attempt and "
                                      f"{self._backoff.attempts} retries (camera.reconnect_max_attempts)")
                raise SourceError(f"{self.name}: gave up after {self._backoff.attempts} failed attempts to reopen "
                                  f"{self._target}")
            self._cap = self._open()
            if self._cap is not None:
                if self._ever_opened:
                    self._reconnects += 1
                    log.info("%s: reopened %s (attempt %d)", self.name, self._target, self._backoff.attempts)
                else:
                    log.info("%s: opened %s (attempt %d)", self.name, self._target, self._backoff.attempts + 1)
                    self._ever_opened = True
                    self.fps = self._fps()
                self._state = SourceState.OPEN
                return True
            self._read_failures += 1
            log.warning("%s: cannot %s %s (attempt %d)", self.name, "reopen" if self._ever_opened else "open camera",
                        self._target, self._backoff.attempts + (0 if self._ever_opened else 1))

    def _release(self) -> None:
        if self._cap is not None:
            cap, self._cap = self._cap, None
            cap.release()
