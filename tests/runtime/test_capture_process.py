"""``camera.capture: process``: the frame source in a capture process, frames through shared memory.

Real parts only: videos written by OpenCV in the test's directory, the real child process, its
shared-memory ring, SIGKILLs of the child and of its parent, and ``edge-sdk run`` to a real Mosquitto.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edge_sdk.clock import now_s
from edge_sdk.errors import ConfigError, SourceError
from edge_sdk.pipeline import CaptureThread
from edge_sdk.pipeline.capture_process import ProcessFrameSource, open_capture_source
from edge_sdk.sources import CameraConfig, Frame, open_frame_source

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
FPS = 15.0
FRAMES = 30
SHM = Path("/dev/shm")


def _write_video(path: Path, frames: int, width: int, height: int) -> Path:
    """Noise with a moving bar: every frame differs, so a frame out of order or torn cannot pass as equal."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height))
    assert writer.isOpened()
    rng = np.random.default_rng(7)
    for k in range(frames):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        image[:, (k * 5) % width:(k * 5) % width + 8] = (0, 0, 255)
        writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("capture-process")
    _write_video(root / "small.mp4", FRAMES, 96, 64)
    _write_video(root / "big.mp4", 60, 320, 240)  # over FFmpeg's read buffer: truncating it starves the decoder
    return root


@pytest.fixture
def clip(videos: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(videos / "small.mp4", tmp_path / "small.mp4"))


def _read_all(source: object, limit: int = 10_000) -> list[Frame]:
    frames = []
    while len(frames) < limit and (frame := source.read()) is not None:  # type: ignore[attr-defined]
        frames.append(frame)
    return frames


def _shm_entry(source: ProcessFrameSource) -> Path:
    assert source.shm_name is not None
    return SHM / source.shm_name


def test_frames_through_the_process_are_the_thread_paths_frames(clip: Path) -> None:
    config = CameraConfig(source=f"file://{clip}", playback="every_frame", capture="process")
    with open_frame_source(config) as source:
        expected = _read_all(source)
    with open_capture_source(config) as source:
        assert isinstance(source, ProcessFrameSource) and source.pid != os.getpid()
        frames = _read_all(source)
        assert source.read() is None  # end of stream stays ended
        stats = source.stats()
        assert not _shm_entry(source).exists()  # unlinked once both sides mapped it
    assert len(frames) == len(expected) == FRAMES
    for got, want in zip(frames, expected, strict=True):
        assert got.pixels.tobytes() == want.pixels.tobytes() and got.pixels.shape == want.pixels.shape
        assert (got.index, got.media_t_s, got.color_order, got.source) == (want.index, want.media_t_s,
                                                                            want.color_order, want.source)
        assert got.read_ms > 0 and got.pixels.flags.writeable and got.pixels.flags.owndata
    # every_frame: re-stamped on the run's media clock, here in the runtime process, like the thread path
    assert np.allclose([f.timestamp_s - f.media_t_s for f in frames], frames[0].timestamp_s)  # type: ignore[operator]
    assert all(f.captured_s is not None and abs(f.captured_s - now_s()) < 30 for f in frames)
    assert source.media_clock is not None and source.media_clock.closed
    assert (stats.state, stats.frames_read, stats.read_failures, stats.reconnects) == ("ended", FRAMES, 0, 0)


def test_realtime_playback_is_paced_in_the_child_on_the_same_clock(clip: Path) -> None:
    with ProcessFrameSource(CameraConfig(source=f"file://{clip}")) as source:
        started_s = now_s()
        frames = _read_all(source)
        took_s = now_s() - started_s
    assert source.media_clock is None and len(frames) >= FRAMES - 2
    assert took_s > (FRAMES - 3) / FPS  # paced at the file's rate, not decoded flat out
    # the child's capture instants are on this process's monotonic clock
    assert all(0 <= now_s() - f.timestamp_s < took_s + 1.0 for f in frames)
    assert all(b.timestamp_s > a.timestamp_s for a, b in itertools.pairwise(frames))


def test_frames_of_another_size_get_a_new_ring(tmp_path: Path) -> None:
    """A folder of images of two sizes: the child waits for its slots, then asks for bigger ones."""
    rng = np.random.default_rng(3)
    for k, (h, w) in enumerate([(32, 48), (32, 48), (120, 160), (40, 40)]):
        cv2.imwrite(str(tmp_path / f"{k}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    config = CameraConfig(source=f"images://{tmp_path}", playback="every_frame")
    with open_frame_source(config) as source:
        expected = _read_all(source)
    with ProcessFrameSource(config) as source:
        frames = _read_all(source)
    assert [f.pixels.shape for f in frames] == [(32, 48, 3), (32, 48, 3), (120, 160, 3), (40, 40, 3)]
    assert all(a.pixels.tobytes() == b.pixels.tobytes() for a, b in zip(frames, expected, strict=True))


def test_open_errors_are_the_thread_paths_errors(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.mp4")
    with pytest.raises(SourceError) as thread_error:
        open_frame_source(missing)
    with pytest.raises(SourceError) as process_error:
        ProcessFrameSource(CameraConfig(source=missing))
    assert str(process_error.value) == str(thread_error.value) and "video file not found" in str(thread_error.value)
    with pytest.raises(ConfigError, match=r"expected a camera index or a device path .* Got: 'front'"):
        ProcessFrameSource(CameraConfig(source="camera://front"))


def test_a_source_that_gives_up_mid_stream_raises_the_childs_error(videos: Path, tmp_path: Path) -> None:
    big = Path(shutil.copy(videos / "big.mp4", tmp_path / "big.mp4"))
    config = CameraConfig(source=str(big), playback="every_frame", loop=True, reconnect_min_s=0.01,
                          reconnect_max_s=0.02, reconnect_max_attempts=3)
    source = ProcessFrameSource(config)
    capture = CaptureThread.for_source(source).start()
    assert capture.slot.get(timeout_s=10) is not None
    big.write_bytes(b"")
    with pytest.raises(SourceError, match=r"gave up after 3 failed attempts to reopen"):
        while capture.slot.get(timeout_s=10) is not None:
            pass
    capture.stop()
    assert isinstance(capture.error, SourceError)
    assert source.stats().read_failures >= 2  # the child's counters came with its error: the read, then reopens
    assert source._child.process.poll() is not None  # closed with the source


def test_a_killed_child_is_a_source_error_and_leaves_nothing_behind(clip: Path) -> None:
    source = ProcessFrameSource(CameraConfig(source=f"file://{clip}", loop=True))
    assert source.read() is not None
    entry = _shm_entry(source)
    os.kill(source.pid, signal.SIGKILL)
    with pytest.raises(SourceError, match=rf"the capture process \(pid {source.pid}\) was killed by signal 9"):
        _read_all(source)
    source.close()
    assert not entry.exists()


def test_close_mid_stream_stops_the_child_and_leaves_no_shared_memory(clip: Path) -> None:
    with ProcessFrameSource(CameraConfig(source=f"file://{clip}", loop=True)) as source:
        for _ in range(5):
            assert source.read() is not None
        entry, child = _shm_entry(source), source._child.process
    assert child.poll() is not None and not entry.exists()
    assert source.stats().state == "closed"


def test_the_child_exits_when_its_parent_is_killed(clip: Path, tmp_path: Path) -> None:
    """SIGKILL of the runtime process: the capture process sees the socket close and exits, no orphan."""
    script = textwrap.dedent(f"""
        import json, sys, time
        from edge_sdk.pipeline.capture_process import ProcessFrameSource
        from edge_sdk.sources import CameraConfig
        source = ProcessFrameSource(CameraConfig(source={str(clip)!r}, loop=True))
        source.read()
        print(json.dumps({{"child": source.pid, "shm": source.shm_name}}), flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert parent.stdout is not None
        started = json.loads(parent.stdout.readline())
        parent.kill()
        parent.wait(10)
        deadline_s = time.monotonic() + 10.0
        while _alive(started["child"]) and time.monotonic() < deadline_s:
            time.sleep(0.05)
        assert not _alive(started["child"])
        assert not (SHM / started["shm"]).exists()
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    """Running, not a zombie (the killed parent's child is re-parented and reaped by init)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_camera_capture_choices() -> None:
    assert CameraConfig(source="x.mp4", capture="process").capture_in_process
    assert not CameraConfig(source="x.mp4", capture="thread").capture_in_process
    assert CameraConfig(source="x.mp4").capture == "thread" and not CameraConfig(source="x.mp4").capture_in_process
    assert CameraConfig(source="x.mp4", capture="auto").capture_in_process == (len(os.sched_getaffinity(0)) >= 2)
    with pytest.raises(ConfigError, match="capture"):
        CameraConfig.from_mapping({"source": "x.mp4", "capture": "fork"})
    source = open_capture_source(CameraConfig(source="seek://?seconds=1&fps=10&size=32", capture="thread"))
    with source:
        assert not isinstance(source, ProcessFrameSource)


@pytest.mark.broker
def test_edge_sdk_run_with_process_capture_publishes_what_the_thread_path_does(broker, recorder_for,  # type: ignore[no-untyped-def]
                                                                              tmp_path: Path) -> None:
    """Every frame of a clip with its traces, to a real Mosquitto: the same results, inputs and skews either way."""
    from edge_sdk.demo.seek import SeekClip, write_clip

    paths = write_clip(tmp_path / "seek.mp4", SeekClip(seconds=2.0, fps=FPS, size=96, seed=2))
    runs = {}
    for capture in ("thread", "process"):
        device = f"pi-cap{capture}"
        config = tmp_path / f"{device}.json"
        config.write_text(json.dumps({
            "device": device,
            "camera": {"source": f"file://{paths.video}", "playback": "every_frame", "capture": capture},
            "text": {"source": "file", "path": str(paths.commands)},
            "sensor": {"source": "file", "path": str(paths.sensor)},
            "mqtt": {"host": broker.host, "port": broker.port, "outbox": {"path": str(tmp_path / f"{device}.sqlite3")}},
        }))
        recorder = recorder_for(broker, [f"edge_sdk/{device}/events"])
        done = subprocess.run([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        summary = next(line for line in done.stderr.splitlines() if line.startswith("edge-sdk run: results="))
        results = int(summary.split("results=")[1].split()[0])
        assert results > 0 and recorder.wait_for(lambda messages, n=results: len(messages) == n, 10.0)
        events = sorted((m.json() for m in recorder.messages), key=lambda e: e["seq"])
        assert [e["seq"] for e in events] == list(range(1, results + 1))
        runs[capture] = [(e["result"], e["inputs"].get("text"), e["inputs"].get("sensor"), e["inputs"].get("skew_ms"))
                         for e in events]
    # the traces follow the media clock in the runtime process, advanced as frames arrive there
    assert runs["process"] == runs["thread"] and all(skew is not None for *_, skew in runs["thread"])


def test_edge_sdk_run_with_process_capture_exits_cleanly_on_sigint_and_sigterm(clip: Path, tmp_path: Path) -> None:
    config = tmp_path / "device.json"
    config.write_text(json.dumps({
        "device": "pi-capsig", "camera": {"source": f"file://{clip}", "loop": True, "capture": "process"},
        "text": {"source": "fixed", "prompt": "find the red circle"},
        "sensor": {"source": "file", "path": str(_reading(tmp_path)), "max_age_s": None},
        "embedded_broker": {"enabled": False}, "output": {"stdout_jsonl": True},
    }))
    for sent in (signal.SIGINT, signal.SIGTERM):
        # its own process group, signalled whole, as a terminal's Ctrl-C and systemd's stop do
        process = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert process.stdout is not None
            assert json.loads(process.stdout.readline())["device"] == "pi-capsig"  # a result: the run is up
            children = _children(process.pid)
            assert children, "no capture process"
            os.killpg(process.pid, sent)
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, err[-3000:]
        assert "edge-sdk run: results=" in err and "Traceback" not in err
        deadline_s = time.monotonic() + 5.0  # the resource tracker exits once it sees the runtime's end
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline_s:
            time.sleep(0.05)
        assert not [(pid, _command(pid)) for pid in children if _alive(pid)]


def _reading(tmp_path: Path) -> Path:
    path = tmp_path / "distance.jsonl"
    path.write_text(json.dumps({"distance_cm": 80.0, "ts": 1_000_000_000.0}) + "\n")
    return path


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _children(pid: int) -> list[int]:
    return [int(x) for task in Path(f"/proc/{pid}/task").iterdir() for x in (task / "children").read_text().split()]
