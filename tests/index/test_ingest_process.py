"""Index ingest in a process of its own: the same rows as the writer thread, the drop policies at a full
queue (the ingest process really stopped with SIGSTOP), a SIGKILLed ingest process or runtime, and
what is left in /dev/shm. The frames' embeddings are the run's (``embed_bundle=None``), as when a
run serves the image tower; tests/index/test_device_search.py and test_ingest_search.py cover a real
dual encoder embedding in the ingest process, queried over a real Mosquitto.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.index import Index, IndexConfig, IndexStage
from edge_sdk.index.ingest_process import ProcessIndexStage

from .test_stage import DIM, ROOT, frame_and_result

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SOCK_SEQPACKET socket pairs: Linux")


def process_stage(tmp_path: Path, *, block: bool = False, **options: object) -> ProcessIndexStage:
    config = IndexConfig(path=str(tmp_path / "ix"), ingest="process", **options)  # type: ignore[arg-type]
    Index(config.path, dim=DIM, max_frames=config.max_frames).close()  # as a run's first open: the folder exists
    return ProcessIndexStage(config, embed_bundle=None, dim=DIM, block_when_full=block)


def wait_until(condition: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def rows(path: Path) -> list[tuple[float, list[float]]]:
    with Index(path) as index:  # a writer's open: rows of a half-written hand-over would be dropped here
        hits = index.search(np.ones(DIM), k=1000, now_s=1000.0)
        assert index.stats()["dropped_at_open"] == 0
        return sorted((h.frame_ts, np.round(index._vectors[index._ids == h.frame_id][0], 5).tolist()) for h in hits)


def test_the_ingest_process_writes_the_rows_and_thumbnails_the_writer_thread_writes(tmp_path: Path) -> None:
    frames = [frame_and_result(i, 1000.0 + i / 10) for i in range(40)]
    thread_config = IndexConfig(path=str(tmp_path / "thread" / "ix"), every_n_frames=2, max_rate_hz=2.0)
    with IndexStage(thread_config, Index(thread_config.path, dim=DIM), embedder=None).start() as thread:
        for frame, result in frames:
            thread.offer(frame, result)
    with process_stage(tmp_path / "process", every_n_frames=2, max_rate_hz=2.0, block=True) as stage:
        for frame, result in frames:
            stage.offer(frame, result)
        stage.close()
        stats = stage.stats()
    assert stats["written"] == stats["queued"] == 7 and stats["skipped_rate"] == 13 and stats["dropped"] == 0
    assert stats["ingest"] == "process" and stats["ingest_state"] == "stopped" and stats["index"]["added"] == 7
    assert rows(tmp_path / "process" / "ix") == rows(tmp_path / "thread" / "ix")
    with Index.open(tmp_path / "process" / "ix") as index:
        assert (index.thumbnail(0) or b"")[:2] == b"\xff\xd8"


def test_queries_on_the_runtimes_reader_see_each_hand_over_once_committed(tmp_path: Path) -> None:
    with process_stage(tmp_path, max_rate_hz=0) as stage:
        assert len(stage.index) == 0
        for i in range(5):
            stage.offer(*frame_and_result(i, 1000.0 + i))
            assert wait_until(lambda i=i: len(stage.index) == i + 1)  # the reader reloads after each commit
        _, result = frame_and_result(2, 1000.0 + 2)
        best = stage.index.search(result.task_result.vector, k=1, now_s=1000.0)[0]  # type: ignore[union-attr]
        assert best.frame_ts == 1002.0 and best.score == pytest.approx(1.0)


def test_fast_frames_go_over_in_batches_and_a_burst_that_stops_is_written_without_a_close(tmp_path: Path) -> None:
    with process_stage(tmp_path, max_rate_hz=0, queue_size=16, block=True) as stage:
        for i in range(40):  # back to back, as a replay (which waits for room): a few hand-overs, not one per frame
            stage.offer(*frame_and_result(i, 1000.0 + i))
        # the last frames of the burst waited for more; the listener's own timeout sends them, and the
        # ingest process commits them, with no frame and no close after them
        assert wait_until(lambda: len(stage.index) == 40, timeout_s=5.0), stage.stats()
        stats = stage.stats()
        assert stats["written"] == 40 and stats["dropped"] == 0 and stats["hand_overs"] <= 40 // 4, stats


def test_frames_at_a_cameras_pace_go_over_one_by_one(tmp_path: Path) -> None:
    with process_stage(tmp_path, max_rate_hz=0) as stage:
        for i in range(5):
            stage.offer(*frame_and_result(i, 1000.0 + i))
            assert wait_until(lambda i=i: stage.stats()["index"].get("added", 0) == i + 1)  # none waits for a batch
            time.sleep(0.03)
        assert stage.stats()["hand_overs"] == 5


def test_a_full_queue_drops_the_oldest_waiting_frame_and_counts_it(tmp_path: Path) -> None:
    stage = process_stage(tmp_path, queue_size=4, max_rate_hz=0)
    os.kill(stage.pid, signal.SIGSTOP)  # the ingest process takes nothing more: the queue fills on this side
    try:
        for i in range(10):
            stage.offer(*frame_and_result(i, 1000.0 + i))
        stats = stage.stats()
        # frame 0 went to the waiting ingest process at once; 1-5 were dropped for 6-9, the newest four
        assert stats["queue"] == 4 and stats["dropped"] == 5 and stats["queued"] == 10, stats
    finally:
        os.kill(stage.pid, signal.SIGCONT)
    stage.close()
    assert stage.stats()["written"] == 5
    assert [ts for ts, _ in rows(tmp_path / "ix")] == [1000, 1006, 1007, 1008, 1009]


def test_a_full_queue_under_block_makes_the_worker_wait_and_loses_nothing(tmp_path: Path) -> None:
    stage = process_stage(tmp_path, queue_size=2, max_rate_hz=0, block=True)
    os.kill(stage.pid, signal.SIGSTOP)
    worker = threading.Thread(target=lambda: [stage.offer(*frame_and_result(i, 1000.0 + i)) for i in range(6)])
    try:
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive()  # waiting for room: one frame handed over, two waiting, the fourth blocked
        assert stage.stats()["queue"] == 2 and stage.stats()["queued"] == 3
    finally:
        os.kill(stage.pid, signal.SIGCONT)
    worker.join(10)
    assert not worker.is_alive()
    stage.close()
    stats = stage.stats()
    assert stats["written"] == 6 and stats["dropped"] == 0 and stats["blocked_s"] >= 0.4
    assert [ts for ts, _ in rows(tmp_path / "ix")] == [1000.0 + i for i in range(6)]


@pytest.mark.parametrize("block", [False, True], ids=["drop_oldest", "block"])
def test_a_sigkilled_ingest_process_is_logged_the_run_goes_on_and_the_index_stays_readable(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, block: bool) -> None:
    stage = process_stage(tmp_path, queue_size=2, max_rate_hz=0, block=block)
    for i in range(3):
        stage.offer(*frame_and_result(i, 1000.0 + i))
    assert wait_until(lambda: stage.stats()["written"] == 3)
    shm_name = stage.shm_name
    os.kill(stage.pid, signal.SIGSTOP)  # stopped mid-run with frames handed over and waiting, then killed
    for i in range(3, 5):
        stage.offer(*frame_and_result(i, 1000.0 + i))
    worker = threading.Thread(target=lambda: [stage.offer(*frame_and_result(i, 1000.0 + i)) for i in range(5, 8)])
    with caplog.at_level(logging.ERROR, logger="edge_sdk.index.ingest_process"):
        worker.start()
        time.sleep(0.2)
        os.kill(stage.pid, signal.SIGKILL)
        worker.join(10)  # a worker waiting for room (block) is let go
        assert not worker.is_alive()
        assert wait_until(lambda: stage.stats()["ingest_state"] == "failed")
    stats = stage.stats()
    assert "was killed by signal 9" in stats["ingest_error"]
    assert any("goes on without indexing" in r.getMessage() for r in caplog.records)
    assert stats["written"] == 3 and stats["written"] + stats["dropped"] + stats["lost"] == 8, stats
    stage.offer(*frame_and_result(8, 1008.0))  # later frames: counted, never raised
    assert stage.stats()["lost"] == stats["lost"] + 1
    assert [h.frame_ts for h in stage.index.search(np.ones(DIM), k=10, now_s=1000.0)] != []  # queries go on
    stage.close()
    assert shm_name is not None and not Path("/dev/shm", shm_name).exists()
    assert [ts for ts, _ in rows(tmp_path / "ix")] == [1000.0, 1001.0, 1002.0]


_PARENT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from tests.index.test_ingest_process import process_stage
    from tests.index.test_stage import frame_and_result
    from pathlib import Path

    stage = process_stage(Path(sys.argv[1]), max_rate_hz=0, queue_size=4)
    for i in range(3):
        stage.offer(*frame_and_result(i, 1000.0 + i))
    while stage.stats()["written"] < 3:
        time.sleep(0.01)
    print(stage.pid, stage.shm_name, flush=True)
    time.sleep(60)
""")


def test_a_sigkilled_runtime_leaves_no_ingest_process_and_nothing_in_dev_shm(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path), str(ROOT)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert parent.stdout is not None
        pid_text, shm_name = parent.stdout.readline().split()
        parent.kill()
        parent.wait(10)
        child = int(pid_text)
        assert wait_until(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), 10), "ingest process lives on"
        assert not Path("/dev/shm", shm_name).exists()
    finally:
        if parent.poll() is None:
            parent.kill()
    assert [ts for ts, _ in rows(tmp_path / "ix")] == [1000.0, 1001.0, 1002.0]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_ingest_auto_picks_the_process_on_two_cpus_and_the_thread_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge_sdk.index.config as config_module

    for cpus, expected in ((1, False), (2, sys.platform.startswith("linux"))):
        monkeypatch.setattr(config_module, "usable_cpus", lambda cpus=cpus: cpus)
        assert IndexConfig(path="ix").ingest_in_process is expected
    assert IndexConfig(path="ix", ingest="thread").ingest_in_process is False
    assert IndexConfig(path="ix", ingest="process").ingest_in_process is True


def test_a_reader_in_another_connection_follows_the_writer_and_never_pairs_a_vector_with_another_frame(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((12, DIM)).astype(np.float32)
    with Index(tmp_path / "ix", dim=DIM, max_frames=4) as writer, Index.open(tmp_path / "ix") as reader:
        for i in range(3):
            writer.add(1000.0 + i, vectors[i])
        assert len(reader) == 3  # new rows only, read since the last look
        for i in range(3, 6):  # the ring wraps: frames 0 and 1 are evicted by count
            writer.add(1000.0 + i, vectors[i])
        assert sorted(h.frame_ts for h in reader.search(vectors[5], k=10, now_s=1000.0)) == [1002, 1003, 1004, 1005]
        for i in range(6, 12):  # more than the ring between two looks: a full load
            writer.add(1000.0 + i, vectors[i])
        assert sorted(h.frame_ts for h in reader.search(vectors[5], k=10, now_s=1000.0)) == [1008, 1009, 1010, 1011]
        # a writer mid-batch: the oldest frame's slot already holds the next frame's id and vector, not committed
        oldest = reader.search(vectors[8], k=1, now_s=1000.0)[0]
        assert oldest.frame_ts == 1008.0 and oldest.score == pytest.approx(1.0)
        slot = int(np.flatnonzero(writer._slot_ids == oldest.frame_id)[0])
        writer._slot_ids[slot], writer._vectors[slot] = 99, vectors[0] / np.linalg.norm(vectors[0])
        hits = reader.search(vectors[0], k=10, now_s=1000.0)
        assert oldest.frame_id not in [h.frame_id for h in hits] and len(hits) == 3
        assert max(h.score for h in hits) < 0.99  # frame 0's vector is nobody's here
