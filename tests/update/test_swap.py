"""The swap happens between two frames: with every-frame playback each frame still gets one result."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import announcement, device_config
from releases import Keys, make_release

from edge_sdk import Runtime, parse_config
from edge_sdk.pipeline import Result

pytestmark = pytest.mark.slow


def test_no_frame_goes_without_a_result_across_the_swap_and_the_health_window(tmp_path: Path, keys: Keys) -> None:
    releases = tmp_path / "releases"
    base, v2 = make_release(releases, 1, keys.signing), make_release(releases, 2, keys.signing)
    config = device_config(tmp_path, base, keys, device="pi-swap", fps=100, shadow_frames=10, health_frames=50)
    config["camera"].update(source="seek://?seconds=3600&fps=100&size=64", playback="every_frame")
    indexes: list[int] = []
    versions: list[str] = []
    lock = threading.Lock()

    def on_result(result: Result) -> None:
        with lock:
            indexes.append(result.frame_index)

    with Runtime(parse_config(config), on_result=on_result) as runtime:
        runtime.pipeline.add_frame_observer(lambda frame, result: versions.append(
            runtime.pipeline.model.manifest.model.version))
        thread = threading.Thread(target=runtime.run, name="test-device")
        thread.start()
        try:
            time.sleep(0.5)
            runtime.updates.handle_announcement(announcement(v2, "swap-v2"))
            deadline = time.monotonic() + 60.0
            while runtime.updates.reporter.find("swap-v2", ("committed", "refused", "rolled_back")) is None:
                assert time.monotonic() < deadline, list(runtime.updates.reporter.history)[-2:]
                time.sleep(0.05)
            time.sleep(0.3)
        finally:
            runtime.stop()
            thread.join(30.0)
        stats = runtime.pipeline.stats()
    assert runtime.updates.reporter.find("swap-v2", ("committed",)) is not None
    assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))  # swap_frames_lost == 0
    assert stats["drops"]["frames"] == 0 and stats["drops"]["callbacks"] == 0
    assert versions[0] == "1" and versions[-1] == "2" and "2" in versions[: len(versions) - 1]


def test_a_model_over_its_latency_budget_is_rolled_back_and_the_old_one_serves_on(tmp_path: Path, keys: Keys) -> None:
    releases = tmp_path / "releases"
    base, v2 = make_release(releases, 1, keys.signing), make_release(releases, 2, keys.signing)
    # a budget no interpreter meets (1 µs per frame): the real measurement fails it
    config = device_config(tmp_path, base, keys, device="pi-slow", shadow_frames=0, latency_budget_ms=0.001)
    with Runtime(parse_config(config)) as runtime:
        thread = threading.Thread(target=runtime.run, name="test-device")
        thread.start()
        try:
            runtime.updates.handle_announcement(announcement(v2, "slow-v2"))
            deadline = time.monotonic() + 60.0
            while (report := runtime.updates.reporter.find("slow-v2", ("committed", "rolled_back", "refused"))) is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            served_by = runtime.pipeline.model.manifest.model.version
        finally:
            runtime.stop()
            thread.join(30.0)
    assert report["step"] == "rolled_back" and report["error"]["code"] == "health_failed", report
    assert "p95 latency" in report["error"]["message"] and report["detail"]["latency_p95_ms"] > 0.001
    assert served_by == "1" and runtime.updates.stats()["serving"]["version"] == 1
