"""Picamera2 source for the Raspberry Pi's CSI cameras.

On Raspberry Pi OS (Bookworm on) the CSI cameras go through libcamera, which OpenCV's V4L2 backend
cannot drive, so ``camera://0`` fails there; ``picamera2://0`` is the way. Picamera2 comes from the
distribution (``apt install python3-picamera2``), not from pip, so a venv must be created with
``--system-site-packages`` to see it.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from edge_sdk.clock import MediaClock, now_s
from edge_sdk.errors import MissingDependencyError, SourceError
from edge_sdk.sources.base import FrameSource
from edge_sdk.sources.config import CameraConfig
from edge_sdk.sources.frame import Frame

__all__ = ["Picamera2Source"]

log = logging.getLogger(__name__)


def _import_picamera2() -> Any:
    try:
        return importlib.import_module("picamera2")
    except ImportError as exc:
        raise MissingDependencyError(
            f"picamera2 is needed for picamera2:// sources but cannot be imported ({exc}). On Raspberry Pi OS install "
            "it with: sudo apt install python3-picamera2, and create the venv with --system-site-packages"
        ) from exc


class Picamera2Source(FrameSource):
    """Frames from Picamera2's main stream in ``RGB888``, which libcamera lays out as B, G, R bytes."""

    def __init__(self, camera_num: int, config: CameraConfig, name: str | None = None,
                 media_clock: MediaClock | None = None) -> None:
        super().__init__(name or config.name or "picamera2", media_clock, config.mode)
        module = _import_picamera2()
        size = (config.width or 640, config.height or 480)
        try:
            self._camera = module.Picamera2(camera_num)
            controls = {"FrameRate": float(config.fps)} if config.fps else {}
            self._camera.configure(self._camera.create_video_configuration(
                main={"size": size, "format": "RGB888"}, controls=controls))
            self._camera.start()
        except Exception as exc:  # libcamera raises RuntimeError/IndexError/...: translate at the boundary
            raise SourceError(f"{self.name}: cannot start Picamera2 camera {camera_num} at {size[0]}x{size[1]}: {exc}") from exc
        self._index = 0

    def _read(self) -> Frame | None:
        read_start_s = now_s()
        try:
            pixels = self._camera.capture_array("main")
        except Exception as exc:
            self._read_failures += 1
            raise SourceError(f"{self.name}: Picamera2 capture failed: {exc}") from exc
        timestamp_s = now_s()
        frame = Frame(pixels[:, :, :3], "BGR", timestamp_s, self._index, self.name,
                      read_ms=(timestamp_s - read_start_s) * 1000.0)
        self._index += 1
        return frame

    def _release(self) -> None:
        try:
            self._camera.stop()
        finally:
            self._camera.close()
