"""The Index on its own: persistence, eviction, the since filter, concurrency and bad input.

Vectors are random unit vectors, thumbnails real JPEGs from OpenCV; no model is needed here.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.errors import ConfigError, InputError
from edge_sdk.index import FrameRecord, Index

DIM = 16
T0 = 1_800_000_000.0


def unit(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    cv2 = pytest.importorskip("cv2")
    ok, data = cv2.imencode(".jpg", np.full((24, 32, 3), 90, np.uint8))
    assert ok
    return bytes(data)


def test_search_finds_the_nearest_vector_first_with_its_time_and_thumbnail(tmp_path: Path, jpeg: bytes) -> None:
    rng = np.random.default_rng(0)
    vectors = unit(rng, 50)
    with Index(tmp_path / "ix", dim=DIM) as index:
        ids = [index.add(T0 + i, v, jpeg if i % 2 == 0 else None) for i, v in enumerate(vectors)]
        hits = index.search(vectors[10], k=3, now_s=T0 + 60)
        assert hits[0].frame_id == ids[10]
        assert hits[0].frame_ts == T0 + 10 and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[0].has_thumbnail and index.thumbnail(ids[10]) == jpeg
        assert index.thumbnail(ids[11]) is None and not index.search(vectors[11], k=1, now_s=T0 + 60)[0].has_thumbnail
        exact = np.argsort(-(vectors @ vectors[10]))[:3]
        assert [h.frame_id for h in hits] == [ids[i] for i in exact]
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_the_index_survives_a_reopen_with_its_vectors_rows_and_next_ids(tmp_path: Path, jpeg: bytes) -> None:
    rng = np.random.default_rng(1)
    vectors = unit(rng, 20)
    with Index(tmp_path / "ix", dim=DIM, max_frames=100) as index:
        for i, v in enumerate(vectors):
            index.add(T0 + i, v, jpeg)
    with Index(tmp_path / "ix") as index:  # dim and capacity from the folder
        assert len(index) == 20 and index.dim == DIM and index.max_frames == 100
        assert index.search(vectors[7], k=1, now_s=T0)[0].frame_id == 7
        assert index.add(T0 + 99, vectors[0]) == 20  # ids continue
        assert index.thumbnail(3) == jpeg
    with Index.open(tmp_path / "ix") as reader:
        assert len(reader) == 21 and reader.read_only
        with pytest.raises(InputError, match="read-only"):
            reader.add(T0, vectors[0])


def test_a_full_index_evicts_the_oldest_frames_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    vectors = unit(rng, 13)
    with Index(tmp_path / "ix", dim=DIM, max_frames=5) as index:
        for i, v in enumerate(vectors):
            index.add(T0 + i, v)
        assert len(index) == 5
        kept = sorted(h.frame_id for h in index.search(vectors[0], k=10, now_s=T0))
        assert kept == [8, 9, 10, 11, 12]
        assert index.stats()["evicted_count"] == 8 and index.stats()["eviction"] == "oldest_first"
    with Index(tmp_path / "ix") as index:
        assert sorted(h.frame_id for h in index.search(vectors[0], k=10, now_s=T0)) == [8, 9, 10, 11, 12]


def test_a_smaller_max_frames_on_reopen_keeps_the_newest(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = unit(rng, 10)
    with Index(tmp_path / "ix", dim=DIM, max_frames=8) as index:
        for i, v in enumerate(vectors):
            index.add(T0 + i, v)
    with Index(tmp_path / "ix", max_frames=3) as index:
        assert sorted(h.frame_id for h in index.search(vectors[9], k=10, now_s=T0)) == [7, 8, 9]
        assert index.search(vectors[9], k=1, now_s=T0)[0].frame_id == 9
        assert index.add(T0 + 20, vectors[0]) == 10
        assert sorted(h.frame_id for h in index.search(vectors[9], k=10, now_s=T0)) == [8, 9, 10]


def test_frames_older_than_max_age_are_evicted_and_never_returned(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = unit(rng, 10)
    with Index(tmp_path / "ix", dim=DIM, max_age_s=5.0) as index:
        index.add_many([FrameRecord(T0 + i, v) for i, v in enumerate(vectors)])  # T0 is years ahead: none old yet
        assert index.evict(now_s=T0 + 8) == 3  # frames 0..2 are more than 5 s before T0 + 8
        assert sorted(h.frame_id for h in index.search(vectors[0], k=10, now_s=T0 + 8)) == list(range(3, 10))
        # search applies the age limit even between writes
        assert sorted(h.frame_id for h in index.search(vectors[0], k=10, now_s=T0 + 9)) == list(range(4, 10))
        assert index.stats()["evicted_age"] == 3
    db = sqlite3.connect(tmp_path / "ix" / "index.sqlite")
    assert db.execute("select count(*) from frames").fetchone()[0] == 7
    db.close()


def test_since_keeps_only_recent_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vectors = unit(rng, 30)
    with Index(tmp_path / "ix", dim=DIM) as index:
        for i, v in enumerate(vectors):
            index.add(T0 + i, v)
        hits = index.search(vectors[0], k=30, since_s=10, now_s=T0 + 29)
        assert sorted(h.frame_id for h in hits) == list(range(19, 30))
        assert index.search(vectors[0], k=5, since_s=1, now_s=T0 + 100) == []


def test_searches_run_while_another_thread_adds(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    vectors = unit(rng, 600)
    errors: list[BaseException] = []
    with Index(tmp_path / "ix", dim=DIM, max_frames=200, sync=False) as index:
        def writer() -> None:
            try:
                for start in range(0, 600, 20):
                    index.add_many([FrameRecord(T0 + i, vectors[i]) for i in range(start, start + 20)])
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=writer)
        thread.start()
        searches = 0
        while thread.is_alive() or searches < 50:
            probe = int(rng.integers(600))
            for hit in index.search(vectors[probe], k=3, now_s=T0):
                # a hit's score is always its own frame's vector's score: no torn slot is ever returned
                assert hit.score == pytest.approx(float(vectors[hit.frame_id] @ vectors[probe]), abs=1e-5)
            searches += 1
        thread.join()
        assert not errors
        assert len(index) == 200 and index.search(vectors[599], k=1, now_s=T0)[0].frame_id == 599


@pytest.mark.parametrize(("embedding", "message"), [
    (np.ones(DIM + 1), r"expected 16 values \(shape \(16,\)\). Got: shape \(17,\)"),
    (np.full(DIM, np.nan), "NaN or infinite"),
    (np.zeros(DIM), "all zeros"),
    (["x"] * DIM, "expected 16 numbers. Got: list"),
])
def test_bad_embeddings_are_refused_with_what_was_expected(tmp_path: Path, embedding: object, message: str) -> None:
    with Index(tmp_path / "ix", dim=DIM) as index:
        with pytest.raises(InputError, match=message):
            index.add(T0, embedding)  # type: ignore[arg-type]
        with pytest.raises(InputError, match=message.replace("embedding", "query")):
            index.search(embedding, k=1)  # type: ignore[arg-type]
        assert len(index) == 0


def test_bad_thumbnails_times_and_arguments_are_refused(tmp_path: Path, jpeg: bytes) -> None:
    vector = np.ones(DIM)
    with Index(tmp_path / "ix", dim=DIM) as index:
        with pytest.raises(InputError, match=r"expected a whole JPEG \(FF D8 ... FF D9\). Got: 4 bytes starting 89 50"):
            index.add(T0, vector, b"\x89PNG")
        with pytest.raises(InputError, match="whole JPEG"):
            index.add(T0, vector, jpeg[: len(jpeg) // 2])  # cut off
        with pytest.raises(InputError, match="frame_ts: expected a finite wall time"):
            index.add(float("nan"), vector)
        with pytest.raises(InputError, match="k: expected a whole number"):
            index.search(vector, k=0)
        with pytest.raises(InputError, match="since: expected a positive number"):
            index.search(vector, since_s=-3)
        with pytest.raises(InputError, match="text query needs the bundle's text embedding"):
            index.search("a red circle")
        # a batch with one bad record adds nothing
        with pytest.raises(InputError):
            index.add_many([FrameRecord(T0, vector), FrameRecord(T0, np.zeros(DIM))])
        assert len(index) == 0


def test_an_index_of_another_size_or_space_is_refused(tmp_path: Path) -> None:
    with Index(tmp_path / "ix", dim=DIM, space="model-a@1234") as index:
        index.add(T0, np.ones(DIM))
    with pytest.raises(ConfigError, match="holds 16-d embeddings; this model makes 8-d ones"):
        Index(tmp_path / "ix", dim=8)
    with pytest.raises(ConfigError, match="built with the embedding model model-a@1234; this run embeds with b@9"):
        Index(tmp_path / "ix", space="b@9")
    with pytest.raises(ConfigError, match="needs its embedding size"):
        Index(tmp_path / "new")
    with pytest.raises(ConfigError, match="no index at"):
        Index.open(tmp_path / "missing")


def test_a_row_whose_slot_was_rewritten_before_a_crash_is_dropped_at_open(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = unit(rng, 4)
    with Index(tmp_path / "ix", dim=DIM, max_frames=4) as index:
        for i, v in enumerate(vectors):
            index.add(T0 + i, v)
    # what a crash between the ring's sync and the commit leaves: slot 0 holds frame 4's id, row 0 still there
    slots = np.load(tmp_path / "ix" / "slots.npy", mmap_mode="r+")
    slots[0] = 4
    slots.flush()
    del slots
    with Index(tmp_path / "ix") as index:
        assert len(index) == 3 and index.stats()["dropped_at_open"] == 1
        assert sorted(h.frame_id for h in index.search(vectors[0], k=4, now_s=T0)) == [1, 2, 3]
        assert index.add(T0 + 9, vectors[0]) == 4  # ids continue after the last committed row, into slot 0
        assert sorted(h.frame_id for h in index.search(vectors[0], k=4, now_s=T0)) == [1, 2, 3, 4]


def test_closed_index_refuses_use_and_close_is_idempotent(tmp_path: Path) -> None:
    index = Index(tmp_path / "ix", dim=DIM)
    index.close()
    index.close()
    with pytest.raises(InputError, match="is closed"):
        index.search(np.ones(DIM))
