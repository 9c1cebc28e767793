"""Index ingest in a process of its own (``index.ingest: process``), frames in shared memory.

Why a process: on the writer thread, the embed (the image tower's interpreter), the JPEG thumbnail
and the SQLite writes hold the runtime's interpreter lock between their C calls, and the inference
worker, the capture thread and the sink thread wait for it. In the ingest process
(:mod:`edge_sdk.index.ingest_child`, a fresh interpreter like the capture and MQTT delivery
processes, not a ``fork`` of a runtime that has TFLite and paho threads running) they run on their
own lock. What stays here, on the inference worker, is the decision (every N-th, max rate, on
change: :class:`~edge_sdk.index.stage.IndexStage`'s) and, for a due frame, one copy of its pixels
into a slot of a :class:`~edge_sdk.pipeline.frame_ring.FrameRing` and one ``send``.

The bounded hand-off is a queue of frames in slots, kept here: the ingest process asks for work
(``ready``, then each ``done``, sent once a hand-over is embedded and thumbnailed; its records are
committed with the next ones, ``committed``) and is sent what waits then, up to 32 frames, the last
one marked (frames that come fast wait for a few more: :mod:`~edge_sdk.index.hand_over`), so frames
wait on this side, where the drop policy applies exactly as on the thread: a full queue drops its
oldest waiting frame (``drop_oldest``, counted; its slot is reused at once, since the ingest process
never saw it) or makes the worker wait (``block``, its wait counted in ``blocked_s``). The ring has
``queue_size`` slots for the waiting frames and up to 32 more for the hand-over being written; a
slot comes back with ``done``. A frame larger than a slot (a stream that reconnects at a new size)
waits for the hand-over to finish, then gets a new ring.

Queries: a reader in this process, not a request to the ingest process. :class:`~edge_sdk.index.store.Index`
opened read-only over the folder the ingest process writes reads the rows committed since its last
look when SQLite says another connection committed, and the vectors are one shared mapping of
``vectors.npy``; so ``cmd/search``
keeps its text tower and its latency here, needs no second protocol, and keeps answering from what
is on disk when the ingest process is gone (``edge-sdk search`` reads the same way from a shell).

A dying ingest process (killed, out of memory, a bug) is logged as an error once, with how it ended;
the run goes on without indexing (frames due afterwards are counted as ``lost``, the stats say
``ingest_state: failed``), because the camera's results are the device's job and the index a record
of them, like a full disk on the thread. The index on disk stays consistent: a hand-over's vectors
are synced before the transaction that makes its rows visible, and the next open drops rows of a
half-written one. A SIGKILLed runtime leaves nothing behind: the ingest process reads end of file,
writes the hand-over it holds and exits, and the ring's name is unlinked as soon as both processes
mapped it (before that, the runtime's resource tracker unlinks it).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import select
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_sdk import errors
from edge_sdk._child import exit_text
from edge_sdk.errors import ConfigError
from edge_sdk.index import ingest_wire as wire
from edge_sdk.index.config import IndexConfig
from edge_sdk.index.hand_over import HAND_OVER_MIN, HandOverPolicy, Waiting
from edge_sdk.index.stage import IndexStage, IngestPlan, _Pending
from edge_sdk.index.store import Index
from edge_sdk.pipeline.frame_ring import FrameRing

if TYPE_CHECKING:
    from edge_sdk.bundle import Bundle
    from edge_sdk.model import FusionModel

__all__ = ["ProcessIndexStage"]

log = logging.getLogger(__name__)

HAND_OVER_MAX = 32  # frames per hand-over (one transaction, one disk sync) at most, as the writer thread's batch
_OPEN_TIMEOUT_S = 60.0  # the ingest process imports numpy, OpenCV and the interpreter and opens the index
_STOP_TIMEOUT_S = 10.0
_RAISED = {name: getattr(errors, name) for name in ("ConfigError", "BundleError", "InputError")}


class ProcessIndexStage(IndexStage):
    """:class:`IndexStage` whose writer is an ingest process; see the module docstring. ``index`` is this
    process's read-only view, for queries. ``embed_bundle``: a bundle file whose ``embed_image`` the ingest
    process runs (None: the run's results carry the ``dim``-value embeddings)."""

    def __init__(self, config: IndexConfig, *, embed_bundle: str | None, dim: int | None = None,
                 space: str | None = None, text_model: str | Bundle | None = None, block_when_full: bool = False,
                 open_timeout_s: float = _OPEN_TIMEOUT_S) -> None:
        from multiprocessing import resource_tracker

        # the ring registers with multiprocessing's resource tracker (its own process): started now, not at a frame
        resource_tracker.ensure_running()
        try:
            self._sock, theirs = wire.socketpair()
        except OSError as exc:  # SOCK_SEQPACKET over AF_UNIX: Linux has it, macOS does not
            raise ConfigError(f"index.ingest: process needs a SOCK_SEQPACKET socket pair, which this system lacks "
                              f"({exc}). Expected index.ingest: thread here") from exc
        try:
            self._process = subprocess.Popen([sys.executable, "-m", "edge_sdk.index.ingest_child", str(theirs.fileno())],
                                             pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        except OSError as exc:
            self._sock.close()
            raise ConfigError(f"cannot start the index ingest process ({sys.executable}): {exc}") from exc
        finally:
            theirs.close()
        try:
            ready = self._handshake(config, embed_bundle, dim, space, open_timeout_s)
            index = Index.open(config.path, model=text_model, max_age_s=config.max_age_s)
        except BaseException:
            self._kill()
            raise
        super().__init__(config, index, None, block_when_full=block_when_full)
        _, _, self._child_embeds, self._child_index = ready
        self._run_vectors = embed_bundle is None
        self._cond = threading.Condition()
        self._ring: FrameRing | None = None
        self._free: collections.deque[int] = collections.deque()
        self._waiting: collections.deque[Waiting] = collections.deque()  # frames in slots, oldest first
        self._handed = 0  # frames with the ingest process, not done yet
        self._uncommitted = 0  # done (embedded), waiting there for their group commit
        self._wants = True  # "ready": the ingest process waits for its first hand-over
        self._policy = HandOverPolicy(min(HAND_OVER_MIN, config.queue_size))  # a blocked worker: a full queue goes
        self._counts["hand_overs"] = 0
        self._state, self._error = "running", ""
        self._counts["lost"] = 0
        self._child_cpu_s = self._child_process_cpu_s = 0.0
        self._listener = threading.Thread(target=self._listen, name="edge_sdk-index-ingest", daemon=True)
        self._listener.start()

    @classmethod
    def open(cls, config: IndexConfig, run_model: FusionModel, *, block_when_full: bool = False) -> ProcessIndexStage:
        """As :meth:`IndexStage.open`, with the embed (when needed) and the writes in the ingest process."""
        plan = IngestPlan.of(config, run_model)
        embed_bundle = None
        if plan.embeds_here:
            if plan.bundle.path is None:
                raise ConfigError("index.ingest: process needs the retrieval bundle as a file (index.bundle or "
                                  "model.path). Got: a bundle read from bytes; expected index.ingest: thread here")
            embed_bundle = str(plan.bundle.path)
        return cls(config, embed_bundle=embed_bundle, dim=plan.dim, space=plan.space, text_model=plan.text_model,
                   block_when_full=block_when_full)

    @property
    def pid(self) -> int:
        """The ingest process's."""
        return self._process.pid

    @property
    def shm_name(self) -> str | None:
        """The ring's shared-memory name, None before the first frame (unlinked once both processes mapped it)."""
        return None if self._ring is None else self._ring.name

    def _handshake(self, config: IndexConfig, embed_bundle: str | None, dim: int | None, space: str | None,
                   timeout_s: float) -> tuple[Any, ...]:
        self._sock.send(wire.control("config", config, embed_bundle, dim, space,
                                     logging.getLogger().getEffectiveLevel()))
        self._sock.settimeout(timeout_s)
        try:
            message = self._sock.recv(wire.MAX_MESSAGE_BYTES)
        except TimeoutError:
            raise ConfigError(f"index at {config.path}: the ingest process did not open it within "
                              f"{timeout_s:.0f} s") from None
        self._sock.settimeout(None)  # blocking from now on: close() wakes the listener (shutdown)
        if not message:
            raise ConfigError(f"index at {config.path}: the ingest process {exit_text(self._process)} while opening it")
        ready = wire.parse_control(message)
        if ready[0] == "error":
            _, kind, text = ready
            raise _RAISED.get(kind, ConfigError)(text if kind in _RAISED else f"index ingest process: {kind}: {text}")
        return ready

    # -- on the inference worker ----------------------------------------------------------------
    def _put(self, item: _Pending) -> None:
        pixels = item.pixels
        with self._cond:
            if self._state != "running":
                self._counts["lost"] += 1
                return
            if self._ring is None or not self._ring.fits(pixels.nbytes):
                self._new_ring(pixels.nbytes)
            if len(self._waiting) >= self.config.queue_size:
                if self._block_when_full:
                    started = time.perf_counter()
                    self._cond.wait_for(lambda: len(self._waiting) < self.config.queue_size
                                        or self._state != "running")
                    self._blocked_s += time.perf_counter() - started
                else:  # drop_oldest: the newest view of the scene is the one worth keeping; its slot is free now
                    self._free.append(self._waiting.popleft()[0])
                    self._counts["dropped"] += 1
            if self._state != "running" or self._ring is None:
                self._counts["lost"] += 1
                return
            # the slot freed last: only as many slots as are in use at once are ever touched, so a ring of 32
            # 1080p slots (200 MB reserved) costs the memory of the two or three a keeping-up writer needs
            slot, ring = self._free.pop(), self._ring
        # outside the lock: the slot is this side's alone until it is queued
        np.copyto(ring.view(slot, pixels.shape), pixels)
        with self._cond:
            if ring is not self._ring:  # pragma: no cover - only this thread replaces rings
                raise RuntimeError("index ingest: the ring changed under a frame being copied")
            now = time.monotonic()
            fast = self._policy.queued(now)
            self._waiting.append(Waiting(slot, pixels.shape, item.frame_ts, item.color_order, item.vector, now))
            self._counts["queued"] += 1
            if self._wants and (not fast or not self._policy.listener_timed or self._due(now)):
                self._hand_over()

    def _new_ring(self, frame_bytes: int) -> None:
        """A ring whose slots hold ``frame_bytes``, once no slot of the old one is in use (under the lock)."""
        if self._ring is not None:
            if self._block_when_full:  # a replay indexes every frame: the waiting ones go first
                self._policy.flush = True
                if self._wants:
                    self._hand_over()
                self._cond.wait_for(lambda: not self._waiting or self._state != "running")
                self._policy.flush = False
            else:
                self._counts["dropped"] += len(self._waiting)
                self._free.extend(w.slot for w in self._waiting)
                self._waiting.clear()
            self._cond.wait_for(lambda: self._handed == 0 or self._state != "running")
            if self._state != "running":
                return
            self._ring.close()
            self._ring = None
        ring = FrameRing.create(self.config.queue_size + min(HAND_OVER_MAX, self.config.queue_size), frame_bytes)
        try:
            self._send(wire.control("ring", ring.name, ring.slots, ring.slot_bytes))
        except BaseException:
            ring.close()
            raise
        self._ring = ring
        self._free = collections.deque(range(ring.slots))

    def _due(self, now: float) -> bool:
        return self._policy.due(len(self._waiting), self._oldest_s(now), now)

    def _oldest_s(self, now: float) -> float:
        return self._waiting[0].queued_s if self._waiting else now

    def _hand_over(self) -> None:
        """Send what waits (up to HAND_OVER_MAX frames, the last one marked) to the ingest process (under the lock)."""
        count = min(len(self._waiting), HAND_OVER_MAX)
        if not count:
            return
        self._wants = False
        self._handed += count
        self._counts["hand_overs"] += 1
        for i in range(count):
            waiting = self._waiting.popleft()
            self._send(wire.frame(waiting.slot, waiting.shape, waiting.frame_ts, waiting.color_order, i == count - 1,
                                  waiting.vector))

    def _send(self, message: bytes) -> None:
        try:
            self._sock.send(message)
        except OSError as exc:  # the listener sees the end of the socket and says how the process ended
            log.debug("index ingest: send failed (%s)", exc)

    # -- the listener thread: what the ingest process says ----------------------------------------
    def _listen(self) -> None:
        poller = select.poll()  # a timed wait without a socket timeout, which would time the worker's sends too
        poller.register(self._sock, select.POLLIN)
        while True:
            with self._cond:
                now = time.monotonic()
                timeout_ms = (self._policy.timeout_ms(len(self._waiting), self._oldest_s(now), now)
                              if self._wants and self._state == "running" else None)
                self._policy.listener_timed = timeout_ms is not None
            if timeout_ms is not None and not poller.poll(timeout_ms):
                with self._cond:
                    if self._wants and self._due(time.monotonic()):
                        self._hand_over()
                continue
            try:
                message = self._sock.recv(wire.MAX_MESSAGE_BYTES)
            except OSError:
                message = b""
            if not message:
                self._ended()
                return
            control = wire.parse_control(message)
            if control[0] == "done":
                _, slots, failed = control
                with self._cond:
                    self._free.extend(slots)
                    self._handed -= len(slots)
                    self._counts["failed"] += failed
                    self._uncommitted += len(slots) - failed
                    self._wants = True
                    if self._due(time.monotonic()):
                        self._hand_over()
                    self._cond.notify_all()
            elif control[0] == "committed":
                _, written, failed, self._child_cpu_s, self._child_process_cpu_s, self._child_index = control
                with self._cond:
                    self._counts["written"] += written
                    self._counts["failed"] += failed
                    self._uncommitted -= written + failed
            elif control[0] == "attached":
                with self._cond:
                    if self._ring is not None and self._ring.name == control[1]:
                        self._ring.unlink()  # both processes have it mapped: no name left behind, whatever happens
            elif control[0] == "error":
                self._error = f"{control[1]}: {control[2]}"

    def _ended(self) -> None:
        with self._cond:
            if self._state == "stopping":
                self._state = "stopped"
            else:
                self._state = "failed"
                waiting, self._error = len(self._waiting) + self._handed + self._uncommitted, (
                    f"the index ingest process (pid {self.pid}) {exit_text(self._process)}"
                    + (f" after {self._error}" if self._error else ""))
                self._counts["lost"] += waiting
                self._waiting.clear()
                log.error("%s: the run goes on without indexing (%d frames lost with it); queries still answer "
                          "from the %s frames on disk", self._error, waiting, self.index.path)
            self._cond.notify_all()

    # -- reporting and ownership ----------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        written = self._counts["written"]
        with self._cond:
            queued = len(self._waiting)
        # the writer's, as of its last commit: the reader would reload every row for them (stats go out every few s)
        index = dict(self._child_index)
        return {**self._counts, "queue": queued, "queue_policy": "block" if self._block_when_full else "drop_oldest",
                "blocked_s": round(self._blocked_s, 3),
                "ingest_cpu_ms_per_frame": round(self._child_cpu_s * 1000 / written, 3) if written else None,
                "embeds_here": self._child_embeds, "ingest": "process", "ingest_pid": self.pid,
                "ingest_state": self._state, "ingest_error": self._error or None,
                "ingest_process_cpu_s": round(self._child_process_cpu_s, 3), "index": index}

    def start(self) -> ProcessIndexStage:
        return self  # the ingest process runs from the start

    def close(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """Write what is queued, stop the ingest process, release the ring and the reader; idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._policy.flush = True
            if self._wants:
                self._hand_over()
            drained = self._cond.wait_for(lambda: (not self._waiting and not self._handed) or self._state != "running",
                                          timeout_s)
            if not drained:
                log.warning("index ingest: %d frames still unwritten after %.0f s; stopping the ingest process",
                            len(self._waiting) + self._handed, timeout_s)
            if self._state == "running":
                self._state = "stopping"
            self._send(wire.control("stop"))  # under the lock: never inside a hand-over the listener is sending
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("index ingest process %d did not stop within %.0f s: killing it", self.pid, timeout_s)
        self._kill()
        self._listener.join(timeout_s)
        with self._cond:
            if self._ring is not None:
                self._ring.close()
        self.index.close()

    def _kill(self) -> None:
        """The process gone and the socket closed, whatever state they are in."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the listener, if any, at once
        self._sock.close()
