"""Frame sources without a capture device: an image folder, and the base of generated ones."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edge_sdk._lazy import require
from edge_sdk.clock import MediaClock, now_s
from edge_sdk.errors import SourceError
from edge_sdk.sources.base import FrameSource, Pacer
from edge_sdk.sources.config import CameraConfig, RunningMode
from edge_sdk.sources.frame import Frame

__all__ = ["IMAGE_SUFFIXES", "ImageFolderSource", "IndexedSource"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
_DEFAULT_FOLDER_FPS = 10.0


class IndexedSource(FrameSource):
    """Frames addressed by position 0..count-1, paced in realtime mode, looping by option.

    Subclasses return the pixels of a position from ``_pixels`` (None: unreadable, counted and
    skipped) and set ``_color_order``; a generated world (the demo's seek clip) is one.
    """

    def __init__(self, name: str, count: int, fps: float, config: CameraConfig, media_clock: MediaClock | None) -> None:
        super().__init__(name, media_clock, config.mode)
        self.frame_count, self.fps, self._loop = count, fps, config.loop
        self._pacer = Pacer(fps, self._stop) if config.mode is RunningMode.REALTIME else None
        self._index = 0
        self._play_index = 0

    def _read(self) -> Frame | None:
        failures_in_row = 0
        while not self._stop.is_set():
            if not self._loop and self._play_index >= self.frame_count:
                return None
            if self._pacer is not None:
                late = self._pacer.late_frames(self._play_index)
                if not self._loop:  # a late reader still gets the last frame
                    late = min(late, self.frame_count - 1 - self._play_index)
                self._play_index += late
                self._frames_skipped += late
                self._pacer.wait(self._play_index)
            position = self._play_index % self.frame_count
            loops = self._play_index // self.frame_count
            if loops != self._loops:  # wrapped (a late real-time reader may skip across the end)
                self._loops = loops
                self._begin_pass(loops * self.frame_count / self.fps)
            read_start_s = now_s()
            pixels = self._pixels(position)
            timestamp_s = now_s()
            self._play_index += 1
            if pixels is None:
                self._read_failures += 1
                failures_in_row += 1
                if failures_in_row >= self.frame_count:
                    raise SourceError(f"{self.name}: none of the {self.frame_count} frames can be read")
                continue
            frame = Frame(pixels, self._color_order, timestamp_s, self._index, self.name, position / self.fps,
                          read_ms=(timestamp_s - read_start_s) * 1000.0)
            self._index += 1
            return frame
        return None

    _color_order: Any = "BGR"

    def _pixels(self, position: int) -> Any:
        raise NotImplementedError

    def _release(self) -> None:
        pass


class ImageFolderSource(IndexedSource):
    """The images of a folder in sorted name order (BGR, as OpenCV decodes them).

    An unreadable image is counted in ``read_failures`` and skipped; the folder is listed once.
    """

    def __init__(self, folder: str | Path, config: CameraConfig, name: str | None = None,
                 media_clock: MediaClock | None = None) -> None:
        self._cv2: Any = require("cv2", "image folder sources")
        root = Path(folder)
        if not root.is_dir():
            raise SourceError(f"{name or 'images'}: image folder not found: {root}")
        self.paths = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"{name or 'images'}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {root}")
        super().__init__(name or config.name or "images", len(self.paths), config.fps or _DEFAULT_FOLDER_FPS, config,
                         media_clock)

    def _pixels(self, position: int) -> Any:
        path = self.paths[position]
        pixels = self._cv2.imread(str(path), self._cv2.IMREAD_COLOR)
        if pixels is None:
            log.warning("%s: cannot decode image %s; skipped", self.name, path)
        return pixels
