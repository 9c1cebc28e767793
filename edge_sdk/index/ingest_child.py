"""The index ingest process: ``python -m edge_sdk.index.ingest_child <fd>``, started by
:class:`~edge_sdk.index.ingest_process.ProcessIndexStage`, which explains the design; the messages
are :mod:`~edge_sdk.index.ingest_wire`'s.

It opens the index for writing (and the bundle's ``embed_image`` unless the run's results are the
embeddings), says ``ready``, then serves hand-overs: the frames the runtime sent after its last
``done`` (up to the one marked last), read from the runtime's shared-memory ring without a copy,
embedded and thumbnailed; then ``done`` gives their slots back, and the records are added in one
transaction with those of the next hand-overs (``committed``; see COMMIT_RECORDS). One
thread: nothing else runs on this interpreter. At end of file on the socket (the runtime died:
SIGKILL, OOM kill, a crash) it writes the hand-over it has and exits, so no ingest process outlives
its runtime. SIGINT and SIGTERM are ignored (a terminal and systemd signal the whole group): the
runtime decides when ingest stops, after draining its queue.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk._child import child_socket
from edge_sdk.errors import InputError
from edge_sdk.index import ingest_wire as wire
from edge_sdk.index.config import IndexConfig
from edge_sdk.index.embedder import ImageEmbedder
from edge_sdk.index.store import FrameRecord, Index
from edge_sdk.pipeline.frame_ring import FrameRing

__all__ = ["main"]

log = logging.getLogger(__name__)

# Group commit: a hand-over is embedded and its slots go back at once, but its records wait for more, up to
# COMMIT_RECORDS, or COMMIT_IDLE_S without a new hand-over, or COMMIT_MAX_S after the oldest. A commit of one
# frame (two syncs of the ring and a SQLite transaction) cost 0.25 ms of CPU, of 32 frames 0.03 ms each
# (bench/index.py's replay hands over one frame at a time); a frame becomes searchable at most
# COMMIT_MAX_S later, and at camera rates COMMIT_IDLE_S later.
COMMIT_RECORDS = 32
COMMIT_IDLE_S = 0.05
COMMIT_MAX_S = 0.25


class _Writer:
    """The index, the embedder and the ring of this process; ``prepare`` serves one hand-over, ``commit``
    writes what the hand-overs since the last commit prepared."""

    def __init__(self, config: IndexConfig, index: Index, embedder: ImageEmbedder | None) -> None:
        self.config, self.index, self.embedder = config, index, embedder
        self.ring: FrameRing | None = None
        self.cpu_s = 0.0
        self.records: list[FrameRecord] = []  # prepared, not committed yet

    def attach(self, name: str, slots: int, slot_bytes: int) -> None:
        if self.ring is not None:  # the runtime replaces a ring only when every slot is back
            self.ring.close()
        self.ring = FrameRing.attach(name, slots, slot_bytes)

    def prepare(self, batch: list[wire.IngestFrame]) -> int:
        """Embed and thumbnail one hand-over (its slots are free again after this); returns the frames that failed."""
        from edge_sdk.dashboard.snapshot import encode_thumbnail

        started = time.thread_time()
        failed = 0
        assert self.ring is not None  # the runtime sends a ring before its first frame
        for slot, shape, frame_ts, color_order, _, vector in batch:
            try:
                pixels = self.ring.view(slot, shape)  # no copy: the slot is this process's until ``done``
                if vector is None:
                    assert self.embedder is not None
                    vector = self.embedder.embed(pixels, color_order)
                jpeg = encode_thumbnail(pixels, color_order, self.config.thumbnail_px, self.config.thumbnail_quality)
                self.records.append(FrameRecord(frame_ts, vector, jpeg))
            except Exception:  # one bad frame (a failed embed) must not end the indexing
                failed += 1
                log.exception("index: could not embed the frame of %.3f", frame_ts)
        self.cpu_s += time.thread_time() - started
        return failed

    def commit(self) -> bytes:
        """Add the prepared records in one transaction; the ``committed`` message for the runtime."""
        started = time.thread_time()
        records, self.records = self.records, []
        written = failed = 0
        try:
            self.index.add_many(records)
            written = len(records)
        except Exception:  # a full disk stops indexing, not the run; counted and logged
            failed = len(records)
            log.exception("index: writing %d frames to %s failed", len(records), self.index.path)
        self.cpu_s += time.thread_time() - started
        return wire.control("committed", written, failed, self.cpu_s, time.process_time(), self.index.stats())

    def warm_up(self) -> None:
        """OpenCV's import and the interpreter's first invoke (tensor allocation) now, before ``ready``: at the
        first frame they would take a few hundred ms of CPU from the run that is under way."""
        from edge_sdk.dashboard.snapshot import encode_thumbnail

        # noise, not black: a tower without biases embeds a black frame as zeros, which the embed task refuses
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        encode_thumbnail(noise, "BGR", self.config.thumbnail_px, self.config.thumbnail_quality)
        if self.embedder is not None:
            try:
                self.embedder.embed(noise, "BGR")
            except InputError as exc:  # a model that refuses this frame may still take the camera's
                log.debug("index ingest: the warm-up embed was refused (%s)", exc)

    def close(self) -> None:
        self.index.close()
        if self.embedder is not None:
            self.embedder.close()
        if self.ring is not None:
            self.ring.close()


def _open(config: IndexConfig, embed_bundle: str | None, dim: int | None, space: str | None) -> _Writer:
    embedder = ImageEmbedder.from_source(Path(embed_bundle), num_threads=1) if embed_bundle else None
    try:
        index = Index(config.path, dim=embedder.dim if embedder is not None else dim, max_frames=config.max_frames,
                      max_age_s=config.max_age_s, space=space)
    except BaseException:
        if embedder is not None:
            embedder.close()
        raise
    writer = _Writer(config, index, embedder)
    writer.warm_up()
    return writer


def _serve(sock: socket.socket, writer: _Writer) -> None:
    """Hand-overs until ``stop`` or end of file; prepared records are committed together (see COMMIT_*)."""
    batch: list[wire.IngestFrame] = []
    first_s = last_s = 0.0  # when the oldest uncommitted record and the newest hand-over came
    while True:
        if writer.records:
            now = time.monotonic()
            wait_s = min(first_s + COMMIT_MAX_S, last_s + COMMIT_IDLE_S) - now
            if wait_s <= 0 or len(writer.records) >= COMMIT_RECORDS:
                _send(sock, writer.commit())
                continue
            sock.settimeout(wait_s)
        try:
            message = sock.recv(wire.MAX_MESSAGE_BYTES)
        except TimeoutError:
            continue  # the commit is due: the top of the loop makes it
        except OSError:
            message = b""
        finally:
            sock.settimeout(None)
        if not message:
            if batch:  # the runtime died mid hand-over: its frames are still in the mapped slots
                writer.prepare(batch)
            if writer.records:
                writer.commit()
            log.warning("index ingest process: the runtime process is gone; stopping")
            return
        if message[:1] == wire.FRAME:
            batch.append(wire.parse_frame(message))
            if not batch[-1][4]:
                continue
            if not writer.records:
                first_s = time.monotonic()
            failed = writer.prepare(batch)
            last_s = time.monotonic()
            _send(sock, wire.control("done", [item[0] for item in batch], failed))
            batch = []
            continue
        control: tuple[Any, ...] = wire.parse_control(message)
        if control[0] == "stop":
            if writer.records:
                _send(sock, writer.commit())
            return
        if control[0] == "ring":
            writer.attach(*control[1:])
            _send(sock, wire.control("attached", control[1]))


def _send(sock: socket.socket, message: bytes) -> None:
    try:
        sock.send(message)
    except OSError:
        pass  # the runtime is gone: the next recv says so


def main(argv: list[str] | None = None) -> int:
    sock = child_socket(argv, "edge_sdk.index.ingest_child", "ProcessIndexStage")
    if sock is None:
        return 2
    message = sock.recv(wire.MAX_MESSAGE_BYTES)
    if not message:
        return 0  # the runtime gave up before configuring this process
    _, config, embed_bundle, dim, space, log_level = wire.parse_control(message)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        writer = _open(config, embed_bundle, dim, space)
    except BaseException as exc:  # noqa: BLE001 - ConfigError, BundleError: raised by the runtime with this text
        sock.send(wire.control("error", type(exc).__name__, str(exc)))
        return 1
    try:
        sock.send(wire.control("ready", writer.index.dim, writer.embedder is not None, writer.index.stats()))
        _serve(sock, writer)
    except Exception as exc:  # a bug here: the runtime logs it and goes on without the index
        log.exception("index ingest process failed")
        try:
            sock.send(wire.control("error", type(exc).__name__, str(exc)))
        except OSError:
            pass
        return 1
    finally:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
