"""Frame sources on real parts: mp4 files written by write_clip and decoded by OpenCV, an image
folder, the live seek generator, a TCP MJPEG stream, and the capture thread with both slot policies."""

from __future__ import annotations

import itertools
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edge_sdk.clock import MediaClock, now_s
from edge_sdk.demo.seek.video import SeekClip, write_clip
from edge_sdk.errors import ConfigError, MissingDependencyError, SourceError
from edge_sdk.pipeline import BlockingSlot, CaptureThread, LatestSlot
from edge_sdk.sources import CameraConfig, Frame, SourceState, open_frame_source

pytestmark = pytest.mark.timeout(60)

CLIP_FRAMES = 30  # 2 s at 15 fps


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    write_clip(root / "clip.mp4", SeekClip(seconds=2.0, fps=15.0, size=96, seed=1))
    return root


@pytest.fixture(scope="module")
def big_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip larger than FFmpeg's 32 KiB read buffer (about 80 KB), so truncating it on disk
    really starves the decoder; a 96x96 clip is read whole at open and survives truncation."""
    root = tmp_path_factory.mktemp("big")
    write_clip(root / "big.mp4", SeekClip(seconds=4.0, fps=15.0, size=320, seed=1))
    return root


@pytest.fixture
def big_clip(big_clip_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "big.mp4"
    shutil.copy(big_clip_dir / "big.mp4", path)
    return path


@pytest.fixture
def clip(clip_dir: Path, tmp_path: Path) -> Path:
    """A private copy (tests may truncate it)."""
    path = tmp_path / "clip.mp4"
    shutil.copy(clip_dir / "clip.mp4", path)
    return path


def read_all(source: object, limit: int = 10_000) -> list[Frame]:
    frames = []
    while len(frames) < limit:
        frame = source.read()  # type: ignore[attr-defined]
        if frame is None:
            break
        frames.append(frame)
    return frames


def test_file_plays_every_frame_then_ends(clip: Path) -> None:
    with open_frame_source(CameraConfig(source=f"file://{clip}", playback="every_frame")) as source:
        frames = read_all(source)
        assert source.read() is None  # stays ended
        stats = source.stats()
    assert len(frames) == CLIP_FRAMES
    assert [f.index for f in frames] == list(range(CLIP_FRAMES))
    first = frames[0]
    assert first.pixels.shape == (96, 96, 3) and first.pixels.dtype == np.uint8 and first.color_order == "BGR"
    assert frames[-1].media_t_s == pytest.approx((CLIP_FRAMES - 1) / 15)
    assert all(a.timestamp_s <= b.timestamp_s for a, b in itertools.pairwise(frames))
    assert abs(first.wall_time_s - time.time()) < 60
    assert stats.frames_read == CLIP_FRAMES and stats.state == "ended" and stats.read_failures == 0


def test_plain_path_is_a_file_and_frames_match_the_clip(clip: Path) -> None:
    expected = [f.rgb for f in SeekClip(seconds=2.0, fps=15.0, size=96, seed=1)]
    with open_frame_source(CameraConfig(source=str(clip), playback="every_frame")) as source:
        frames = read_all(source)
    # mp4v is lossy: compare loosely, frame by frame, to catch order or colour-swap mistakes
    errors = [np.abs(f.pixels[:, :, ::-1].astype(int) - e.astype(int)).mean() for f, e in zip(frames, expected)]
    swapped = np.abs(frames[5].pixels.astype(int) - expected[5].astype(int)).mean()
    assert max(errors) < 6 and swapped > max(errors)


def test_file_loops_when_asked(clip: Path) -> None:
    with open_frame_source(CameraConfig(source=str(clip), playback="every_frame", loop=True)) as source:
        frames = read_all(source, limit=2 * CLIP_FRAMES + 5)
        stats = source.stats()
    assert len(frames) == 2 * CLIP_FRAMES + 5
    assert stats.loops == 2 and stats.reconnects == 0
    assert frames[CLIP_FRAMES].media_t_s == 0.0 and frames[CLIP_FRAMES].index == CLIP_FRAMES
    assert np.array_equal(frames[CLIP_FRAMES].pixels, frames[0].pixels)


def test_realtime_playback_is_paced_at_the_file_rate(clip: Path) -> None:
    with open_frame_source(CameraConfig(source=str(clip), playback="realtime")) as source:
        start_s = now_s()
        frames = read_all(source)
        elapsed_s = now_s() - start_s
    # 30 frames at 15 fps span 29/15 s; a fast reader must not get them faster (generous upper bound)
    assert elapsed_s > 1.6
    assert len(frames) + source.stats().frames_skipped == CLIP_FRAMES


def test_realtime_playback_skips_frames_a_slow_reader_missed(clip: Path) -> None:
    with open_frame_source(CameraConfig(source=str(clip), playback="realtime", fps=30.0)) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
            time.sleep(0.15)  # a slow model: about 4.5 frame periods per frame
        stats = source.stats()
    assert stats.frames_skipped > 10
    assert len(frames) + stats.frames_skipped == CLIP_FRAMES
    assert frames[-1].media_t_s == pytest.approx((CLIP_FRAMES - 1) / 30)  # the last frame is never skipped


def test_every_frame_capture_blocks_instead_of_dropping(clip: Path) -> None:
    source = open_frame_source(CameraConfig(source=str(clip), playback="every_frame"))
    capture = CaptureThread.for_source(source, capacity=2).start()
    seen = []
    while (frame := capture.slot.get(timeout_s=5)) is not None:
        seen.append(frame.index)
        time.sleep(0.005)  # slower than decoding
    capture.stop()
    assert seen == list(range(CLIP_FRAMES))
    assert capture.slot.drops == 0 and capture.error is None
    assert capture.name == "edge-capture-file"
    assert source.state is SourceState.CLOSED


def test_realtime_capture_drops_what_a_slow_consumer_cannot_take(clip: Path) -> None:
    source = open_frame_source(CameraConfig(source=str(clip), playback="realtime", fps=60.0))
    with CaptureThread.for_source(source) as capture:
        seen = []
        while (frame := capture.slot.get(timeout_s=5)) is not None:
            seen.append(frame.index)
            time.sleep(0.1)
    assert isinstance(capture.slot, LatestSlot)
    assert 2 <= len(seen) < CLIP_FRAMES
    assert seen == sorted(seen)
    assert capture.slot.drops > 0 and capture.slot.drops + len(seen) == capture.slot.puts


def test_truncated_file_reconnects_with_backoff_and_resumes(big_clip: Path) -> None:
    """The real path: the file goes unreadable mid-play (truncated), then comes back."""
    clip = big_clip
    original = clip.read_bytes()
    config = CameraConfig(source=str(clip), playback="every_frame", reconnect_min_s=0.05, reconnect_max_s=0.2)
    with open_frame_source(config) as source:
        frames = read_all(source, limit=5)
        clip.write_bytes(original[: len(original) // 3])  # moov is at the end: also unopenable now
        restorer = threading.Timer(0.8, clip.write_bytes, args=(original,))
        restorer.start()
        frames += read_all(source)
        restorer.join()
        stats = source.stats()
    assert stats.reconnects >= 1
    assert stats.read_failures >= 2  # the failed read plus reopen attempts during the outage
    indices = [round(f.media_t_s * 15) for f in frames]  # type: ignore[operator]
    assert indices[:5] == [0, 1, 2, 3, 4] and indices[-1] == 59
    assert indices == sorted(set(indices))  # resumed where it stopped: no repeats, in order


def test_source_that_never_comes_back_fails_with_a_clear_error(big_clip: Path) -> None:
    clip = big_clip
    config = CameraConfig(source=str(clip), playback="every_frame", loop=True, reconnect_min_s=0.01,
                          reconnect_max_s=0.02, reconnect_max_attempts=3)
    source = open_frame_source(config)
    capture = CaptureThread.for_source(source).start()
    assert capture.slot.get(timeout_s=5) is not None
    clip.write_bytes(b"")
    with pytest.raises(SourceError, match=r"gave up after 3 failed attempts to reopen"):
        while capture.slot.get(timeout_s=5) is not None:
            pass
    capture.stop()
    assert isinstance(capture.error, SourceError)
    assert source.state is SourceState.CLOSED


class _FakeCapture:
    """Stands in for cv2.VideoCapture: fails ``fail_reads`` times after ``good_reads`` frames."""

    def __init__(self, good_reads: int, fail_reads: int) -> None:
        self.good_reads, self.fail_reads, self.released = good_reads, fail_reads, False

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 25.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop: int, value: float) -> bool:
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.good_reads > 0:
            self.good_reads -= 1
            return True, np.zeros((4, 4, 3), np.uint8)
        return False, None

    def release(self) -> None:
        self.released = True


def test_live_source_reconnects_after_failed_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    captures = [_FakeCapture(3, 1), _FakeCapture(0, 1), _FakeCapture(2, 1), _FakeCapture(5, 0)]
    opened = []

    def fake_open(*args: object) -> _FakeCapture:
        opened.append(captures[len(opened)])
        return opened[-1]

    monkeypatch.setattr(cv2, "VideoCapture", fake_open)
    config = CameraConfig(source="camera://0", reconnect_min_s=0.01, reconnect_max_s=0.04)
    with open_frame_source(config) as source:
        frames = read_all(source, limit=10)
        stats = source.stats()
    assert [f.index for f in frames] == list(range(10))
    assert stats.reconnects == 3 and stats.read_failures == 3
    assert all(c.released for c in captures[:3])


def _mjpeg_server(jpegs: list[bytes], connections: int) -> tuple[int, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        with server:
            for _ in range(connections):
                conn, _ = server.accept()
                with conn:
                    try:
                        for jpeg in jpegs:
                            conn.sendall(jpeg)
                            time.sleep(0.005)
                    except OSError:
                        pass

    thread = threading.Thread(target=serve, name="test-mjpeg-server", daemon=True)
    thread.start()
    return port, thread


def test_tcp_stream_that_drops_reconnects_and_goes_on() -> None:
    """A real FFmpeg-backed stream: the server closes after each burst of frames, then accepts again."""
    jpegs = [cv2.imencode(".jpg", np.ascontiguousarray(f.rgb[:, :, ::-1]))[1].tobytes()
             for f in SeekClip(seconds=1.0, fps=20.0, size=64)]
    port, server = _mjpeg_server(jpegs, connections=2)
    config = CameraConfig(source=f"tcp://127.0.0.1:{port}", reconnect_min_s=0.05, reconnect_max_s=0.2,
                          reconnect_max_attempts=20, read_timeout_s=3.0)
    with open_frame_source(config) as source:
        frames = read_all(source, limit=len(jpegs) + 5)
        stats = source.stats()
    server.join(5)
    assert len(frames) == len(jpegs) + 5
    assert stats.reconnects == 1 and stats.read_failures >= 1
    assert frames[0].media_t_s is None and frames[0].pixels.shape == (64, 64, 3)


def test_image_folder_plays_sorted_and_skips_unreadable(tmp_path: Path) -> None:
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), np.full((8, 10, 3), i * 50, np.uint8))
    (tmp_path / "img1b.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    with open_frame_source(CameraConfig(source=f"images://{tmp_path}", playback="every_frame")) as source:
        frames = read_all(source)
        stats = source.stats()
    assert [int(f.pixels[0, 0, 0]) for f in frames] == [0, 50, 100]
    assert frames[0].pixels.shape == (8, 10, 3) and frames[0].color_order == "BGR"
    assert stats.read_failures == 1 and stats.frames_read == 3


def test_seek_source_generates_the_clip_live() -> None:
    expected = list(SeekClip(seconds=1.0, fps=10.0, size=64, seed=3))
    spec = "seek://?seconds=1&fps=10&seed=3&size=64"
    with open_frame_source(CameraConfig(source=spec, playback="every_frame", loop=True)) as source:
        frames = read_all(source, limit=12)
    assert frames[0].color_order == "RGB"
    assert all(np.array_equal(f.pixels, expected[i % 10].rgb) for i, f in enumerate(frames))
    assert frames[10].media_t_s == 0.0 and frames[11].index == 11


def test_media_clock_follows_the_video(clip: Path) -> None:
    with open_frame_source(CameraConfig(source=str(clip), playback="every_frame")) as source:
        clock = source.media_clock
        assert isinstance(clock, MediaClock)
        read_all(source, limit=10)
        assert clock.wait_until(9 / 15, timeout_s=0) and not clock.wait_until(10 / 15, timeout_s=0.01)
    assert clock.closed


def test_files_decode_on_one_thread_unless_asked(clip: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "CAP_PROP_N_THREADS"):
        pytest.skip("this OpenCV has no CAP_PROP_N_THREADS (before 4.6)")
    with open_frame_source(CameraConfig(source=str(clip))) as one:
        assert one._cap.get(cv2.CAP_PROP_N_THREADS) == 1  # type: ignore[attr-defined]
    with open_frame_source(CameraConfig(source=str(clip), decode_threads=2)) as two:
        assert two._cap.get(cv2.CAP_PROP_N_THREADS) == 2  # type: ignore[attr-defined]


def test_decode_threads_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match=r"camera.decode_threads: expected 0 .* Got: -1"):
        CameraConfig(source="file://x.mp4", decode_threads=-1)


def test_nonexistent_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"video file not found: .*missing\.mp4"):
        open_frame_source(str(tmp_path / "missing.mp4"))


def test_corrupt_video_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match=r"cannot decode this file as video .*bad\.mp4"):
        open_frame_source(f"file://{bad}")


@pytest.mark.parametrize(("spec", "message"), [
    ("ftp://host/x.mp4", r"unknown scheme 'ftp' .* Valid schemes: camera, file"),
    ("camera://front", r"expected a camera index or a device path such as /dev/video0 in 'camera://front'\. Got"),
    ("seek://?secs=3", r"unknown seek:// parameter 'secs' .* Valid parameters: seconds, fps, seed, size"),
    ("seek://?fps=fast", r"seek:// parameter fps expects a number. Got: 'fast'"),
])
def test_bad_specs_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_frame_source(spec)


def test_camera_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"camera.lop: unknown key. Valid keys for camera: .*loop"):
        CameraConfig.from_mapping({"source": "camera://0", "lop": True})
    with pytest.raises(ConfigError, match=r"camera.playback: expected one of 'realtime', 'every_frame'. Got: 'fast'"):
        CameraConfig.from_mapping({"source": "x.mp4", "playback": "fast"})
    with pytest.raises(ConfigError, match=r"expected 0 < min <= max. Got: 5.0, 1.0"):
        CameraConfig.from_mapping({"source": "x.mp4", "reconnect_min_s": 5, "reconnect_max_s": 1})


@pytest.mark.parametrize(("spec", "target"), [
    ("/dev/video7", 7), ("7", 7), ("camera://7", 7), ("camera:///dev/video7", 7),
    ("/dev/v4l/by-id/usb-Cam-video-index0", "/dev/v4l/by-id/usb-Cam-video-index0"), ("camera://", 0),
])
def test_device_paths_and_bare_integers_are_cameras(spec: str, target: int | str) -> None:
    from edge_sdk.sources.factory import camera_target, split_spec

    scheme, rest = split_spec(spec)
    assert scheme == "camera"
    assert camera_target(rest, spec) == target


def test_a_device_path_opens_as_a_camera_not_a_video_file() -> None:
    config = CameraConfig(source="/dev/video97", reconnect_max_attempts=0)  # 0: fail at once
    with pytest.raises(SourceError, match=r"cannot open camera device index: 97$"):
        open_frame_source(config)
    with pytest.raises(SourceError, match=r"cannot open camera device path: /dev/v4l/by-id/none$"):
        open_frame_source(CameraConfig(source="/dev/v4l/by-id/none", reconnect_max_attempts=0))


def _read_in_thread(source: object) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(source.read())  # type: ignore[attr-defined]
        except SourceError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, outcome


def test_a_camera_that_cannot_be_opened_is_retried_until_closed() -> None:
    """reconnect_max_attempts: null means never give up, also on a camera that was never there."""
    config = CameraConfig(source="camera://97", reconnect_min_s=0.05, reconnect_max_s=0.1)
    source = open_frame_source(config)  # does not raise: the reads retry it
    assert source.state is SourceState.RECONNECTING
    thread, outcome = _read_in_thread(source)
    time.sleep(1.3)
    assert thread.is_alive() and not outcome
    assert source.state is SourceState.RECONNECTING
    assert source.stats().read_failures >= 5  # the first open, then one attempt per 0.1 s at most
    started_s = now_s()
    source.close()
    thread.join(timeout=2)
    assert not thread.is_alive() and now_s() - started_s < 1.0
    assert outcome == [None] and source.state is SourceState.CLOSED


def test_a_camera_that_cannot_be_opened_gives_up_after_max_attempts() -> None:
    config = CameraConfig(source="camera://97", reconnect_min_s=0.01, reconnect_max_s=0.02, reconnect_max_attempts=3)
    source = open_frame_source(config)
    with pytest.raises(SourceError, match=r"camera: cannot open camera device index: 97; gave up after the first "
                                          r"attempt and 3 retries \(camera.reconnect_max_attempts\)"):
        source.read()
    assert source.state is SourceState.FAILED
    assert source.stats().read_failures == 4
    source.close()


def test_a_camera_that_appears_later_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    real = cv2.VideoCapture
    calls: list[object] = []

    def plugged_in_on_the_third_try(*args: object) -> object:
        calls.append(args)
        return _FakeCapture(5, 0) if len(calls) >= 3 else real(97, cv2.CAP_ANY)

    monkeypatch.setattr(cv2, "VideoCapture", plugged_in_on_the_third_try)
    config = CameraConfig(source="camera://97", reconnect_min_s=0.01, reconnect_max_s=0.02)
    with open_frame_source(config) as source:
        frames = read_all(source, limit=5)
        assert source.fps == 25.0 and source.state is SourceState.OPEN  # read from the camera once it opened
        stats = source.stats()
    assert [f.index for f in frames] == list(range(5))
    assert stats.reconnects == 0 and stats.read_failures == 2


def test_gstreamer_without_backend_says_what_to_install() -> None:
    if cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER):
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(SourceError, match=r"no GStreamer backend .*apt install python3-opencv.* -m pip uninstall "
                                          r"--yes opencv-python-headless"):
        open_frame_source("gst://videotestsrc ! videoconvert ! appsink")


def test_gstreamer_advice_fits_the_deployed_venv_and_a_plain_one() -> None:
    from edge_sdk.sources.gstreamer import PythonEnv, no_gstreamer_message

    deployed = PythonEnv("/opt/edge-sdk/venv", "/opt/edge-sdk/venv/bin/python", in_venv=True,
                         system_site_packages=True, pip_opencv=("opencv-python-headless",), numpy_major=1,
                         writable=False)
    message = no_gstreamer_message(deployed)
    assert "1. sudo apt install python3-opencv" in message
    assert "2. remove the pip OpenCV that shadows it: sudo /opt/edge-sdk/venv/bin/python -m pip uninstall --yes " \
           "opencv-python-headless" in message
    assert "--system-site-packages" not in message and "numpy" not in message
    assert "install.sh installs opencv-python-headless again" in message
    project = PythonEnv("/src/.venv", "/src/.venv/bin/python", in_venv=True, system_site_packages=False,
                        pip_opencv=("opencv-python-headless",), numpy_major=2, writable=True)
    message = no_gstreamer_message(project)
    assert "2. let this venv see it: python3 -m venv --system-site-packages /src/.venv" in message
    assert "3. remove the pip OpenCV that shadows it: /src/.venv/bin/python -m pip uninstall" in message
    assert "4. Debian's cv2 needs numpy 1: /src/.venv/bin/python -m pip install 'numpy<2'" in message


def test_picamera2_missing_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "picamera2", None)  # importing it raises ImportError
    with pytest.raises(MissingDependencyError, match=r"picamera2 is needed for picamera2:// .* apt install python3-picamera2"):
        open_frame_source("picamera2://0")


def test_close_is_idempotent_and_read_after_close_fails(clip: Path) -> None:
    source = open_frame_source(str(clip))
    source.close()
    source.close()
    assert source.state is SourceState.CLOSED
    with pytest.raises(SourceError, match=r"read\(\) after close\(\)"):
        source.read()


def test_stop_interrupts_a_reconnect_backoff(big_clip: Path) -> None:
    clip = big_clip
    config = CameraConfig(source=str(clip), playback="every_frame", loop=True, reconnect_min_s=5.0, reconnect_max_s=5.0)
    source = open_frame_source(config)
    capture = CaptureThread.for_source(source).start()
    assert capture.slot.get(timeout_s=5) is not None
    clip.write_bytes(b"")
    deadline_s = now_s() + 10
    while source.state is not SourceState.RECONNECTING and now_s() < deadline_s:
        capture.slot.get(timeout_s=0.1)
    assert source.state is SourceState.RECONNECTING  # now inside the 5 s backoff
    started_s = now_s()
    capture.stop()
    assert now_s() - started_s < 2.0
    assert not capture.is_alive() and capture.error is None


def test_slot_hands_the_latest_value_and_counts_drops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.get(timeout_s=0.01) is None
    for value in range(5):
        slot.put(value)
    assert slot.get(timeout_s=0) == 4 and slot.drops == 4
    assert slot.get(timeout_s=0.01) is None  # nothing newer than what the caller saw
    threading.Timer(0.05, slot.put, args=(9,)).start()
    assert slot.get(timeout_s=5) == 9
    slot.close(SourceError("camera unplugged"))
    with pytest.raises(SourceError, match="camera unplugged"):
        slot.get(timeout_s=1)


def test_blocking_slot_waits_for_room_and_drains_before_end() -> None:
    slot: BlockingSlot[int] = BlockingSlot(capacity=1)
    assert slot.put(1)
    assert not slot.put(2, timeout_s=0.05)  # full: the producer waits, nothing dropped
    slot.close()
    assert slot.get(timeout_s=0) == 1 and slot.get(timeout_s=0) is None and slot.drops == 0


def test_capture_thread_surfaces_a_crashing_source() -> None:
    class Broken(Iterator[int]):
        name = "broken"

        def read(self) -> Frame:
            raise ZeroDivisionError("bug in a source")

        def close(self) -> None:
            pass

        def __next__(self) -> int:
            raise StopIteration

    capture = CaptureThread(Broken(), LatestSlot()).start()  # type: ignore[arg-type]
    with pytest.raises(SourceError, match=r"frame producer failed: ZeroDivisionError\('bug in a source'\)"):
        capture.slot.get(timeout_s=5)
    capture.stop()
    assert isinstance(capture.error, ZeroDivisionError)
