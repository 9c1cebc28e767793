"""Feeding the index from a running pipeline, without ever making the camera wait.

::

    inference worker ──offer(frame, result)──▶ due? (every N-th, max rate, on change)
        ──▶ bounded queue (drop_oldest, counted) ──▶ index writer thread:
            embed (unless the run's own result is the embedding) → JPEG thumbnail → Index.add_many

The worker only decides and enqueues (a 32x32 grey copy of the frame when ``on_change`` is set).
The writer thread owns the image embedder's interpreter, the thumbnail encoding and the disk; a
slow SD card or a second model backs up only its queue, whose oldest waiting frame is dropped
(and counted) to keep the newest. In ``every_frame`` playback (a replay, where the pipeline waits
for its sinks too) the worker waits for room instead, so a replay indexes the same frames every
time. Frames already queued are written at :meth:`IndexStage.close`.

With ``index.ingest: process`` the writer is an ingest process instead
(:class:`~edge_sdk.index.ingest_process.ProcessIndexStage`, a subclass: the same decisions here, the
queue of frames in a shared-memory ring).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple, Self

import numpy as np
import numpy.typing as npt

from edge_sdk.index.config import IndexConfig
from edge_sdk.index.embedder import ImageEmbedder, embed_signature, space_of
from edge_sdk.index.store import FrameRecord, Index
from edge_sdk.pipeline.change import picture_change, small_grey

if TYPE_CHECKING:
    from edge_sdk.bundle import Bundle
    from edge_sdk.model import FusionModel
    from edge_sdk.pipeline.result import Result
    from edge_sdk.sources.frame import ColorOrder, Frame

__all__ = ["IndexStage", "IngestPlan"]

_log = logging.getLogger(__name__)
_BATCH = 32  # frames per transaction at most: one disk sync per batch
_STOP = None


class _Pending(NamedTuple):
    frame_ts: float
    pixels: npt.NDArray[np.uint8]
    color_order: ColorOrder
    vector: npt.NDArray[np.float32] | None


class IngestPlan(NamedTuple):
    """What indexing a run needs: the retrieval bundle, whether frames are embedded beside the run (else the
    run's results are the embeddings, of ``dim`` values), the embedding space, and the text tower for queries."""

    bundle: Bundle
    embeds_here: bool
    dim: int | None
    space: str
    text_model: Bundle | None

    @classmethod
    def of(cls, config: IndexConfig, run_model: FusionModel) -> IngestPlan:
        from edge_sdk.bundle import read_bundle

        bundle = read_bundle(config.bundle) if config.bundle else run_model.bundle
        signature = embed_signature(bundle.manifest, "image")
        same_bundle = bundle.manifest.tflite_sha256 == run_model.manifest.tflite_sha256
        embeds_here = not (same_bundle and signature is not None and run_model.signature.key == signature.key)
        # text queries (cmd/search) need the text tower; without one, vector queries still work
        text_model = bundle if embed_signature(bundle.manifest, "text") is not None else None
        return cls(bundle, embeds_here, None if embeds_here else _dim_of(run_model), space_of(bundle.manifest),
                   text_model)


class IndexStage:
    """Owns the :class:`Index`, the image embedder (unless the run's results are the embeddings) and
    the writer thread. ``offer`` runs on the inference worker; everything else on the writer."""

    def __init__(self, config: IndexConfig, index: Index, embedder: ImageEmbedder | None, *,
                 block_when_full: bool = False) -> None:
        self.config, self.index, self._embedder = config, index, embedder
        # every_frame playback is a replay: it waits for the writer, as it waits for the sinks, so a
        # replay indexes the same frames every time; a live camera never waits (drop_oldest)
        self._block_when_full = block_when_full
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=config.queue_size)
        self._min_interval_s = 1.0 / config.max_rate_hz if config.max_rate_hz > 0 else 0.0
        self._last_ts = float("-inf")
        self._last_small: npt.NDArray[np.float32] | None = None
        self._considered = 0
        self._counts = {"offered": 0, "queued": 0, "skipped_rate": 0, "skipped_unchanged": 0, "dropped": 0,
                        "written": 0, "failed": 0}
        self._cpu_s = 0.0
        self._blocked_s = 0.0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._run_vectors = embedder is None  # the run's results are the embeddings: no embed here

    @classmethod
    def open(cls, config: IndexConfig, run_model: FusionModel, *, block_when_full: bool = False) -> IndexStage:
        """The stage for a run serving ``run_model``: reuses its embeddings when it serves the image tower of
        ``config.bundle`` (or its own bundle), else loads that bundle's ``embed_image`` next to it."""
        plan = IngestPlan.of(config, run_model)
        embedder = ImageEmbedder.from_source(plan.bundle, num_threads=1) if plan.embeds_here else None
        dim = embedder.dim if embedder is not None else plan.dim
        try:
            index = Index(config.path, dim=dim, max_frames=config.max_frames, max_age_s=config.max_age_s,
                          space=plan.space, model=plan.text_model)
        except BaseException:
            if embedder is not None:
                embedder.close()
            raise
        return cls(config, index, embedder, block_when_full=block_when_full)

    # -- on the inference worker ----------------------------------------------------------------
    def offer(self, frame: Frame, result: Result) -> None:
        """Queue the frame when it is due; never blocks."""
        self._counts["offered"] += 1
        self._considered += 1
        if (self._considered - 1) % self.config.every_n_frames:
            return
        # paced on the runtime clock (a file's own timeline in every_frame playback), not the wall's, which
        # can step; 1 ms of slack: frames of a 10 fps clip are 0.1 s apart give or take rounding
        at_s = frame.timestamp_s
        if self._min_interval_s and at_s - self._last_ts < self._min_interval_s - 1e-3:
            self._counts["skipped_rate"] += 1
            return
        if self.config.on_change > 0:
            small = small_grey(frame.pixels, "the index's on_change test")
            if self._last_small is not None and picture_change(small, self._last_small) < self.config.on_change:
                self._counts["skipped_unchanged"] += 1
                return
            self._last_small = small
        vector = None
        if self._run_vectors:
            vector = getattr(result.task_result, "vector", None)
            if vector is None:  # the run's task made no embedding for this frame: nothing to index
                self._counts["failed"] += 1
                return
        self._last_ts = at_s
        self._put(_Pending(result.frame_ts, frame.pixels, frame.color_order, vector))

    def _put(self, item: _Pending) -> None:
        if self._block_when_full:
            started = time.perf_counter()
            self._queue.put(item)
            self._blocked_s += time.perf_counter() - started
            self._counts["queued"] += 1
            return
        while True:
            try:
                self._queue.put_nowait(item)
                self._counts["queued"] += 1
                return
            except queue.Full:
                try:  # drop_oldest: the newest view of the scene is the one worth keeping
                    self._queue.get_nowait()
                    self._counts["dropped"] += 1
                except queue.Empty:
                    pass

    # -- the writer thread ----------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="edge_sdk-index-writer", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[_Pending] = []
            while item is not _STOP:
                assert item is not None
                batch.append(item)
                if len(batch) >= _BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stopping = item is _STOP
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        started = time.thread_time()
        records = []
        for pending in batch:
            try:
                records.append(self._record(pending))
            except Exception:  # noqa: BLE001 - one bad frame (a failed embed) must not end the indexing
                self._counts["failed"] += 1
                _log.exception("index: could not embed the frame of %.3f", pending.frame_ts)
        try:
            self.index.add_many(records)
            self._counts["written"] += len(records)
        except Exception:  # noqa: BLE001 - a full disk stops indexing, not the run; counted and logged
            self._counts["failed"] += len(records)
            _log.exception("index: writing %d frames to %s failed", len(records), self.index.path)
        self._cpu_s += time.thread_time() - started

    def _record(self, pending: _Pending) -> FrameRecord:
        from edge_sdk.dashboard.snapshot import encode_thumbnail

        vector = pending.vector
        if vector is None:
            assert self._embedder is not None
            vector = self._embedder.embed(pending.pixels, pending.color_order)
        jpeg = encode_thumbnail(pending.pixels, pending.color_order, self.config.thumbnail_px,
                                self.config.thumbnail_quality)
        return FrameRecord(pending.frame_ts, vector, jpeg)

    # -- reporting and ownership ----------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        written = self._counts["written"]
        return {**self._counts, "queue": self._queue.qsize(),
                "queue_policy": "block" if self._block_when_full else "drop_oldest",
                "blocked_s": round(self._blocked_s, 3),
                "ingest_cpu_ms_per_frame": round(self._cpu_s * 1000 / written, 3) if written else None,
                "embeds_here": self._embedder is not None, "ingest": "thread", "index": self.index.stats()}

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, stop the writer, close the index and the embedder; idempotent."""
        if self._closed:
            return
        self._closed = True
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)  # the writer drains ahead of it
            thread.join(timeout_s)
            if thread.is_alive():
                _log.warning("index writer still busy after %.0f s; closing the index under it", timeout_s)
        self.index.close()
        if self._embedder is not None:
            self._embedder.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dim_of(model: FusionModel) -> int:
    from edge_sdk.index.embedder import embedding_dim

    return embedding_dim(model.signature)
