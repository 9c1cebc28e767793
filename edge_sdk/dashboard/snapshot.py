"""Frame thumbnails for the dashboard: a small JPEG on ``<prefix>/<device>/snapshot``.

Payload: the raw JPEG bytes (no JSON, no base64), so a browser shows it through a Blob URL and
``mosquitto_sub -C 1 -t .../snapshot > frame.jpg`` saves it. Publish it retained at QoS 0: a page
opened later shows the last frame at once, and a lost thumbnail is replaced by the next one.

A 160 px wide JPEG at quality 70 is 3-6 kB; at the default 2 per second that is about 10 kB/s,
small next to the frames themselves and nothing for a broker. Encoding one costs well under a
millisecond, and it happens only when a thumbnail is due, so calling :meth:`SnapshotPublisher.offer`
for every result is cheap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_sdk._lazy import require

__all__ = ["PublishBytes", "SnapshotPublisher", "encode_thumbnail", "snapshot_topic"]

logger = logging.getLogger(__name__)

PublishBytes = Callable[[str, bytes], object]
"""``publish(topic, payload)``: sends bytes as they are; its return value is ignored."""


def snapshot_topic(prefix: str, device_id: str) -> str:
    """``<prefix>/<device>/snapshot``, next to the topics of :class:`edge_sdk.sinks.mqtt.topics.Topics`."""
    return f"{prefix}/{device_id}/snapshot"


def encode_thumbnail(pixels: np.ndarray, color_order: str = "BGR", width_px: int = 160, quality: int = 70) -> bytes:
    """A JPEG of ``pixels`` scaled down to ``width_px`` wide (never up), aspect ratio kept.

    ``pixels`` is uint8 HxWx3 in ``color_order`` ("BGR" or "RGB") or HxW grayscale.
    """
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8:
        got = f"dtype={pixels.dtype}" if isinstance(pixels, np.ndarray) else f"type={type(pixels).__name__}"
        raise ValueError(f"thumbnail needs a uint8 image array. Got: {got}")
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)) or min(pixels.shape[:2]) == 0:
        raise ValueError(f"thumbnail needs an HxWx3 or HxW image. Got: shape={pixels.shape}")
    if color_order not in ("BGR", "RGB"):
        raise ValueError(f"color_order must be 'BGR' or 'RGB'. Got: {color_order!r}")
    if not 16 <= width_px <= 4096:
        raise ValueError(f"width_px must be 16..4096. Got: {width_px}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100. Got: {quality}")
    cv2 = require("cv2", "dashboard snapshots")
    height, width = pixels.shape[:2]
    if width > width_px:
        # INTER_AREA averages the source pixels: no aliasing shimmer in a shrunk frame.
        size = (width_px, max(1, round(height * width_px / width)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    if pixels.ndim == 3 and color_order == "RGB":
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)  # imencode reads BGR
    ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a JPEG of shape {pixels.shape}")
    return bytes(buffer)


class SnapshotPublisher:
    """Publishes at most ``max_rate_hz`` thumbnails per second through ``publish(topic, bytes)``.

    Call :meth:`offer` with each frame (or each result's frame); frames that come before the
    next thumbnail is due are skipped without being encoded. A failure to encode or publish is
    logged and counted, never raised: a missing thumbnail must not stop inference.

    ``publish`` is any ``(topic, payload) -> object``; :meth:`for_paho` adapts a paho client.
    """

    def __init__(
        self,
        publish: PublishBytes,
        topic: str,
        *,
        max_rate_hz: float = 2.0,
        width_px: int = 160,
        quality: int = 70,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_rate_hz > 0:
            raise ValueError(f"max_rate_hz must be > 0. Got: {max_rate_hz}")
        require("cv2", "dashboard snapshots")  # fail at setup, not on the first due frame
        self._publish = publish
        self.topic = topic
        self.min_interval_s = 1.0 / max_rate_hz
        self.width_px = width_px
        self.quality = quality
        self._clock_s = clock_s
        self._next_due_s = float("-inf")
        self._lock = threading.Lock()
        self.sent = 0
        self.skipped = 0
        self.failed = 0
        self.last_size_bytes = 0

    @classmethod
    def for_paho(cls, client: Any, topic: str, *, retain: bool = True, **options: Any) -> SnapshotPublisher:
        """Publishes with a connected paho ``Client`` at QoS 0 (retained by default)."""
        return cls(lambda t, payload: client.publish(t, payload, qos=0, retain=retain), topic, **options)

    def due(self) -> bool:
        """True when the next :meth:`offer` would publish: lets a caller skip fetching the frame."""
        return self._clock_s() >= self._next_due_s

    def offer(self, pixels: np.ndarray, color_order: str = "BGR") -> bool:
        """Encode and publish ``pixels`` if a thumbnail is due; True when one was published."""
        with self._lock:
            now_s = self._clock_s()
            if now_s < self._next_due_s:
                self.skipped += 1
                return False
            # The slot is taken even if this one fails: a broken frame or broker is retried at the
            # normal rate, not on every frame.
            self._next_due_s = now_s + self.min_interval_s
        try:
            payload = encode_thumbnail(pixels, color_order, self.width_px, self.quality)
            self._publish(self.topic, payload)
        except Exception as exc:  # noqa: BLE001 - counted and logged; inference goes on
            self.failed += 1
            # The first failure says why at WARNING; repeats of a persistent problem stay at DEBUG.
            level = logging.WARNING if self.failed == 1 else logging.DEBUG
            logger.log(level, "snapshot on %s failed (%d so far): %s", self.topic, self.failed, exc)
            return False
        self.sent += 1
        self.last_size_bytes = len(payload)
        return True

    def stats(self) -> dict[str, int]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed,
                "last_size_bytes": self.last_size_bytes}
