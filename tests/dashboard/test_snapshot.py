"""Frame thumbnails: size, colour order, rate limit, and failures that never reach the pipeline."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from edge_sdk.dashboard import SnapshotPublisher, encode_thumbnail, snapshot_topic


def test_thumbnail_is_a_160_px_jpeg_with_aspect_and_colours_kept() -> None:
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    frame[:, :320] = (255, 0, 0)  # RGB red on the left half
    data = encode_thumbnail(frame, "RGB")
    assert data[:2] == b"\xff\xd8" and len(data) < 8_000
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # BGR
    assert decoded is not None
    assert decoded.shape == (120, 160, 3)
    blue, green, red = (int(v) for v in decoded[60, 40])
    assert red > 200 and blue < 50 and green < 50


def test_small_and_grayscale_frames_are_not_scaled_up() -> None:
    decoded = cv2.imdecode(np.frombuffer(encode_thumbnail(np.full((48, 64), 128, np.uint8)), np.uint8),
                           cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    assert decoded.shape == (48, 64)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4, 4), np.uint8), r"HxWx3 or HxW image\. Got: shape=\(4, 4, 4\)"),
        (np.zeros((4, 4, 3), np.float32), r"uint8 image array\. Got: dtype=float32"),
    ],
)
def test_thumbnail_rejects_what_is_not_an_image(pixels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_thumbnail(pixels)


def test_publisher_sends_at_most_max_rate_and_skips_frames_in_between() -> None:
    sent: list[tuple[str, bytes]] = []
    now_s = [100.0]
    topic = snapshot_topic("edge_sdk", "pi-kitchen")
    assert topic == "edge_sdk/pi-kitchen/snapshot"
    publisher = SnapshotPublisher(lambda t, p: sent.append((t, p)), topic, max_rate_hz=2.0, clock_s=lambda: now_s[0])
    frame = np.zeros((240, 320, 3), np.uint8)
    for _ in range(30):  # 30 frames over 1 s at 30 fps
        publisher.offer(frame)
        now_s[0] += 1 / 30
    assert len(sent) == 2 and publisher.skipped == 28
    assert sent[0][0] == topic and sent[0][1][:2] == b"\xff\xd8"
    assert publisher.stats()["sent"] == 2 and publisher.stats()["last_size_bytes"] == len(sent[-1][1])


def test_publish_failures_are_counted_and_logged_once_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    now_s = [0.0]

    def broken(topic: str, payload: bytes) -> None:
        raise ConnectionError("broker gone")

    publisher = SnapshotPublisher(broken, "t/snapshot", max_rate_hz=1.0, clock_s=lambda: now_s[0])
    with caplog.at_level(logging.WARNING, logger="edge_sdk.dashboard.snapshot"):
        for _ in range(3):
            assert publisher.offer(np.zeros((8, 8, 3), np.uint8)) is False
            now_s[0] += 1.0
    assert publisher.failed == 3
    assert [r.getMessage() for r in caplog.records] == ["snapshot on t/snapshot failed (1 so far): broker gone"]


def test_for_paho_publishes_retained_at_qos_0() -> None:
    calls: list[tuple[str, bytes, int, bool]] = []

    class FakeClient:
        def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
            calls.append((topic, payload, qos, retain))

    assert SnapshotPublisher.for_paho(FakeClient(), "a/b/snapshot").offer(np.zeros((8, 8, 3), np.uint8))
    assert [(t, q, r) for t, _, q, r in calls] == [("a/b/snapshot", 0, True)]


def test_max_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"max_rate_hz must be > 0\. Got: 0"):
        SnapshotPublisher(lambda t, p: None, "t", max_rate_hz=0)
