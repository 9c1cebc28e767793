# Over 400 lines: one class, whose writer and cross-process readers share the ring's invariants
"""The rolling embedding index: what the camera saw, searchable by text or vector.

    with Index("/var/lib/edge_sdk/index", dim=128, max_frames=20_000, max_age_s=7 * 86400) as index:
        frame_id = index.add(frame_ts=time.time(), embedding=vector, thumbnail_jpeg=jpeg)
        hits = index.search(query_vector, k=5, since_s=600)

    with Index.open("/var/lib/edge_sdk/index", model="retrieval.tflite") as index:  # text queries
        hits = index.search("a red circle on the left", k=5)

On disk, in one folder (see docs/retrieval-device.md for why a plain matrix and not a vector
database):

- ``vectors.npy``: a ring of ``max_frames`` unit float32 vectors, memory-mapped, searched by brute
  force (one matrix-vector product: exact, about 5 ms for 100,000 x 128 on one core);
- ``slots.npy``: for each ring slot, the id of the frame whose vector it holds (-1: none);
- ``index.sqlite`` (WAL): one row per frame (id, slot, frame time, JPEG thumbnail) and the index's
  identity (dim, capacity, the embedding model).

Crash safety: a batch writes its vectors and slot ids to the ring and syncs them to disk before
the SQLite transaction that makes its rows visible commits. On open, a row whose slot no longer
holds its id (a crash between the two) is dropped, so a vector is never paired with another
frame's row. Eviction is oldest first, by count (the ring's next slot is always the oldest frame's)
and by age (``max_age_s``, applied on every write, at open and in :meth:`Index.evict`).

Thread safety: :meth:`add`, :meth:`search` and :meth:`thumbnail` may be called from any thread; a
search never sees a slot that is being rewritten.

Readers in other processes (``Index.open``, read-only; the runtime's own reader when the index is
written by its ingest process): a search first reads the rows committed since its last look
(SQLite's ``data_version`` says when there are any), and drops a hit whose slot the writer already
gave to the next frame, so a vector is never reported under another frame's id.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import numpy.typing as npt

from edge_sdk.errors import ConfigError, InputError
from edge_sdk.index.checks import FrameRecord, SearchHit, check_jpeg, check_ts, check_vector
from edge_sdk.index.embedder import TextEmbedder

if TYPE_CHECKING:
    from edge_sdk.bundle import Bundle
    from edge_sdk.model import FusionModel

__all__ = ["FrameRecord", "Index", "SearchHit"]

_log = logging.getLogger(__name__)
_FORMAT = "edge_sdk.index/1"
DEFAULT_MAX_FRAMES = 10_000
_SCHEMA = """
create table if not exists meta (key text primary key, value text not null);
create table if not exists frames (
    id integer primary key, slot integer not null, frame_ts real not null, thumbnail blob);
create index if not exists frames_ts on frames(frame_ts);
"""


class Index:
    """A persisted, bounded index of frame embeddings; see the module docstring.

    ``dim`` is needed only to create a new index (otherwise it is read from the folder, or from
    ``model``); ``max_frames`` and ``max_age_s`` bound it (``max_frames`` None: the existing index's, or
    10,000 for a new one; ``max_age_s`` None: no age limit; a changed ``max_frames`` keeps the newest frames). ``model`` (a bundle
    path or a loaded :class:`~edge_sdk.model.FusionModel` serving a text embedding) lets
    :meth:`search` take text; ``space`` names the embedding space the vectors come from (the
    bundle's model name and flatbuffer hash), and an existing index of another space is refused.
    """

    def __init__(self, path: str | Path, *, dim: int | None = None, max_frames: int | None = None,
                 max_age_s: float | None = None, model: str | Path | Bundle | FusionModel | None = None,
                 space: str | None = None, sync: bool = True, read_only: bool = False) -> None:
        if max_frames is not None and max_frames < 1:
            raise ConfigError(f"index max_frames: expected at least 1. Got: {max_frames}")
        if max_age_s is not None and not max_age_s > 0:
            raise ConfigError(f"index max_age_s: expected a positive number of seconds or null. Got: {max_age_s}")
        self.path = Path(path)
        self._wanted_capacity = max_frames
        self.read_only = read_only
        self.max_frames, self.max_age_s, self._sync = max_frames or DEFAULT_MAX_FRAMES, max_age_s, sync
        self._text = TextEmbedder.from_source(model) if model is not None else None
        try:
            if space is None and self._text is not None:
                space = self._text.space
            if dim is None and self._text is not None:
                dim = self._text.dim
            self._state_lock = threading.Lock()  # the ring arrays and the per-slot frame times
            self._db_lock = threading.Lock()  # the one SQLite connection
            self._closed = False
            self._counts = {"added": 0, "evicted_count": 0, "evicted_age": 0, "dropped_at_open": 0}
            self._open(dim, space)
        except BaseException:
            if self._text is not None:
                self._text.close()
            raise

    @classmethod
    def open(cls, path: str | Path, *, model: str | Path | Bundle | FusionModel | None = None, read_only: bool = True,
             **options: Any) -> Index:
        """Open an existing index, by default read-only (for queries next to a running ``edge-sdk run``, which
        keeps writing it); :class:`ConfigError` if there is none."""
        if not (Path(path) / "index.sqlite").is_file():
            raise ConfigError(f"no index at {path}: expected a folder made by edge-sdk run with an index section "
                              "(index.sqlite, vectors.npy)")
        return cls(path, model=model, read_only=read_only, **options)

    # -- opening --------------------------------------------------------------------------------
    def _open(self, dim: int | None, space: str | None) -> None:
        if not self.read_only:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"index at {self.path}: cannot create the folder ({exc.strerror or exc}); "
                                  "expected a writable path") from exc
        try:
            self._db = sqlite3.connect(self.path / "index.sqlite", check_same_thread=False, isolation_level=None)
            if not self.read_only:
                self._db.execute("pragma journal_mode=wal")
                self._db.execute("pragma synchronous=normal")
                self._db.executescript(_SCHEMA)
            meta = dict(self._db.execute("select key, value from meta").fetchall())
        except sqlite3.Error as exc:
            raise ConfigError(f"index at {self.path}: cannot open index.sqlite ({exc}); expected an index folder "
                              "or an empty one") from exc
        if meta:
            self._check_identity(meta, dim, space)
            self.dim = int(meta["dim"])
            capacity = int(meta["capacity"])
            self.max_frames = capacity if self.read_only else self._wanted_capacity or capacity
            self.space = meta.get("space") or None
        elif self.read_only:
            raise ConfigError(f"no index at {self.path}: index.sqlite holds no index")
        else:
            if dim is None or dim < 1:
                raise ConfigError(f"a new index at {self.path} needs its embedding size: pass dim= or a model. "
                                  f"Got: dim={dim}")
            self.dim, capacity, self.space = int(dim), self.max_frames, space
            with self._db:
                self._db.execute("begin")
                self._db.executemany("insert into meta values (?, ?)", [
                    ("format", _FORMAT), ("dim", str(self.dim)), ("capacity", str(capacity)),
                    ("space", space or "")])
        self._vectors, self._slot_ids = self._open_ring(capacity)
        if capacity != self.max_frames:
            self._resize(capacity)
        self._load_rows()
        self.evict()

    def _check_identity(self, meta: dict[str, str], dim: int | None, space: str | None) -> None:
        if meta.get("format") != _FORMAT:
            raise ConfigError(f"index at {self.path}: format {meta.get('format')!r}; expected {_FORMAT!r}")
        if dim is not None and int(meta["dim"]) != dim:
            raise ConfigError(f"index at {self.path} holds {meta['dim']}-d embeddings; this model makes {dim}-d ones. "
                              "Point index.path at another folder, or delete this one to start over")
        stored = meta.get("space") or None
        if space is not None and stored is not None and stored != space:
            raise ConfigError(f"index at {self.path} was built with the embedding model {stored}; this run embeds "
                              f"with {space}, whose vectors do not compare. Point index.path at another folder, "
                              "or delete this one to start over")

    def _open_ring(self, capacity: int) -> tuple[np.memmap, np.memmap]:
        vectors_path, slots_path = self.path / "vectors.npy", self.path / "slots.npy"
        try:
            if vectors_path.exists() and slots_path.exists():
                mode: Literal["r", "r+"] = "r" if self.read_only else "r+"
                vectors = np.load(vectors_path, mmap_mode=mode)
                slots = np.load(slots_path, mmap_mode=mode)
            else:
                vectors = np.lib.format.open_memmap(vectors_path, "w+", np.float32, (capacity, self.dim))
                slots = np.lib.format.open_memmap(slots_path, "w+", np.int64, (capacity,))
                slots[:] = -1
                slots.flush()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"index at {self.path}: cannot map vectors.npy / slots.npy ({exc})") from exc
        if vectors.shape != (capacity, self.dim) or vectors.dtype != np.float32 or slots.shape != (capacity,):
            raise ConfigError(f"index at {self.path}: vectors.npy is {vectors.shape} {vectors.dtype}; expected "
                              f"({capacity}, {self.dim}) float32. The folder is damaged: delete it to start over")
        return vectors, slots

    def _load_rows(self) -> None:
        capacity = self.max_frames
        ts = np.full(capacity, np.nan)  # frame time per slot; NaN: no searchable frame there
        frame_ids = np.full(capacity, -1, np.int64)
        with self._db_lock:
            # the version before the rows, in one read transaction: a commit in between only reloads again
            self._db.execute("begin")
            (version,) = self._db.execute("pragma data_version").fetchone()
            rows = self._db.execute("select id, slot, frame_ts from frames order by id").fetchall()
            self._db.execute("commit")
        # vectorised: a 100,000-frame index opens in tens of milliseconds, not a Python loop's second
        table = np.array(rows, dtype=np.float64).reshape(-1, 3)
        ids, slots, times = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]
        fits = (slots >= 0) & (slots < capacity)
        fits[fits] = self._slot_ids[slots[fits]] == ids[fits]
        stale = ids[~fits].tolist()
        if stale and self.read_only:  # the writer may be mid-batch: leave its rows to it
            pass
        elif stale:  # a crash between the ring's sync and the commit that would have deleted them
            self._counts["dropped_at_open"] = len(stale)
            _log.warning("index %s: %d rows whose vector slot was rewritten before a crash: dropped",
                         self.path, len(stale))
            self._execute_many("delete from frames where id = ?", [(i,) for i in stale])
        ts[slots[fits]], frame_ids[slots[fits]] = times[fits], ids[fits]
        next_slot = (rows[-1][1] + 1) % capacity if rows else 0
        with self._state_lock:  # swapped whole: a search on another thread sees the old rows or the new
            self._ts, self._ids, self._data_version = ts, frame_ids, version
            self._next_id = (rows[-1][0] + 1) if rows else 0
            self._next_slot = next_slot
            # slots fill from 0 up and then wrap: a search reads only the part ever written
            self._high = capacity if np.any(self._slot_ids[next_slot:] >= 0) else next_slot

    def _resize(self, old_capacity: int) -> None:
        """``max_frames`` changed: keep the newest frames that fit in a new ring (rewritten atomically)."""
        with self._db_lock:
            rows = self._db.execute("select id, slot from frames order by id").fetchall()
        rows = [(i, s) for i, s in rows if 0 <= s < old_capacity and int(self._slot_ids[s]) == i][-self.max_frames:]
        new_vectors = np.zeros((self.max_frames, self.dim), np.float32)
        new_slots = np.full(self.max_frames, -1, np.int64)
        for new_slot, (frame_id, old_slot) in enumerate(rows):
            new_vectors[new_slot], new_slots[new_slot] = self._vectors[old_slot], frame_id
        del self._vectors, self._slot_ids
        for name, array in (("vectors.npy", new_vectors), ("slots.npy", new_slots)):
            tmp = self.path / f"{name}.tmp"
            with open(tmp, "wb") as out:
                np.save(out, array)
            tmp.replace(self.path / name)
        kept = {frame_id for frame_id, _ in rows}
        with self._db_lock, self._db:
            self._db.execute("begin")
            doomed = [(i,) for (i,) in self._db.execute("select id from frames").fetchall() if i not in kept]
            self._db.executemany("delete from frames where id = ?", doomed)
            self._db.executemany("update frames set slot = ? where id = ?",
                                 [(slot, frame_id) for slot, (frame_id, _) in enumerate(rows)])
            self._db.execute("update meta set value = ? where key = 'capacity'", (str(self.max_frames),))
        _log.info("index %s: ring resized from %d to %d frames (%d kept)", self.path, old_capacity,
                  self.max_frames, len(rows))
        self._vectors, self._slot_ids = self._open_ring(self.max_frames)

    # -- writing --------------------------------------------------------------------------------
    def add(self, frame_ts: float, embedding: npt.ArrayLike, thumbnail_jpeg: bytes | None = None) -> int:
        """Add one frame; returns its id. Evicts the oldest frame when the index is full."""
        return self.add_many([FrameRecord(frame_ts, embedding, thumbnail_jpeg)])[0]

    def add_many(self, records: Sequence[FrameRecord]) -> list[int]:
        """Add frames in one transaction (one disk sync for the batch); every record is checked first."""
        self._check_open()
        if self.read_only:
            raise InputError(f"index at {self.path} is open read-only (Index.open): open it with Index(path) to add")
        checked = [(check_ts(r.frame_ts), self._check_vector(r.embedding, "embedding"), check_jpeg(r.thumbnail_jpeg))
                   for r in records]
        if not checked:
            return []
        if len(checked) > self.max_frames:  # only the newest fit; the rest would be overwritten in this batch
            checked = checked[-self.max_frames:]
        ids, slots, overwritten, evicted = [], [], [], 0
        with self._state_lock:
            for _, vector, _ in checked:
                slot = self._next_slot
                if self._slot_ids[slot] >= 0:  # the oldest frame's slot: its row goes in the same transaction
                    overwritten.append((int(self._slot_ids[slot]),))
                    evicted += int(self._ids[slot] >= 0)  # not already gone by age
                self._ts[slot], self._ids[slot] = np.nan, -1  # not searchable until its row commits
                # the id first: a reader in another process that still sees the old id after its product
                # read the old vector (Index.search re-checks the ids of its hits)
                self._slot_ids[slot] = self._next_id
                self._vectors[slot] = vector
                ids.append(self._next_id)
                slots.append(slot)
                self._next_id += 1
                self._next_slot = (slot + 1) % self.max_frames
                self._high = max(self._high, slot + 1)
        if self._sync:  # the vectors are on disk before the rows that point at them
            self._vectors.flush()
            self._slot_ids.flush()
        rows = [(frame_id, slot, ts, jpeg) for frame_id, slot, (ts, _, jpeg) in zip(ids, slots, checked, strict=True)]
        with self._db_lock, self._db:
            self._db.execute("begin")
            self._db.executemany("delete from frames where id = ?", overwritten)
            self._db.executemany("insert into frames (id, slot, frame_ts, thumbnail) values (?, ?, ?, ?)", rows)
        with self._state_lock:
            for frame_id, slot, ts, _ in rows:
                if self._slot_ids[slot] == frame_id:
                    self._ts[slot], self._ids[slot] = ts, frame_id
        self._counts["added"] += len(rows)
        self._counts["evicted_count"] += evicted
        if self.max_age_s is not None:
            self.evict()
        return ids

    def evict(self, now_s: float | None = None) -> int:
        """Remove frames older than ``max_age_s`` (oldest first); returns how many went."""
        if self.max_age_s is None or self._closed or self.read_only:
            return 0
        cutoff = (time.time() if now_s is None else now_s) - self.max_age_s
        with self._state_lock:
            old = np.flatnonzero(self._ts < cutoff)
            doomed = [(int(self._ids[slot]),) for slot in old]
            self._ts[old], self._ids[old] = np.nan, -1
        if doomed:
            self._execute_many("delete from frames where id = ?", doomed)
            self._counts["evicted_age"] += len(doomed)
        return len(doomed)

    # -- reading --------------------------------------------------------------------------------
    def search(self, query: str | npt.ArrayLike, k: int = 5, since_s: float | None = None,
               now_s: float | None = None) -> list[SearchHit]:
        """The ``k`` frames most similar to ``query`` (text, with a model; or a vector), best first.

        ``since_s``: only frames from the last ``since_s`` seconds (before ``now_s``, default: now).
        """
        self._check_open()
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InputError(f"k: expected a whole number of results, at least 1. Got: {k!r}")
        if since_s is not None and not (isinstance(since_s, int | float) and since_s > 0 and math.isfinite(since_s)):
            raise InputError(f"since: expected a positive number of seconds. Got: {since_s!r}")
        vector = self.embed_text(query) if isinstance(query, str) else self._check_vector(query, "query vector")
        now = time.time() if now_s is None else now_s
        cutoffs = [now - limit for limit in (since_s, self.max_age_s) if limit is not None]
        self.refresh()
        while True:  # ends: each pass drops at least one slot from the search
            hits = self._search_once(vector, k, cutoffs)
            if hits is not None:
                return hits

    def _search_once(self, vector: npt.NDArray[np.float32], k: int, cutoffs: list[float]) -> list[SearchHit] | None:
        """The hits, or None when a writer in another process gave a hit's slot to a newer frame meanwhile (that
        slot's frame is being evicted: it leaves the search here and now, before its row's delete commits)."""
        with self._state_lock:
            high = self._high
            scores = self._vectors[:high] @ vector
            times, ids = self._ts[:high].copy(), self._ids[:high].copy()
        usable = ~np.isnan(times)
        if cutoffs:
            usable &= times >= max(cutoffs)
        scores = np.where(usable, scores, -np.inf)
        count = min(k, int(usable.sum()))
        if count == 0:
            return []
        best = np.argpartition(-scores, count - 1)[:count] if count < high else np.arange(high)
        best = best[np.argsort(-scores[best], kind="stable")][:count]
        if self.read_only:
            rewritten = best[self._slot_ids[best] != ids[best]]
            if rewritten.size:
                with self._state_lock:
                    gone = rewritten[self._ids[rewritten] == ids[rewritten]]
                    self._ts[gone], self._ids[gone] = np.nan, -1
                return None
        frame_ids = [int(ids[slot]) for slot in best]
        with_thumbs = self._with_thumbnails(frame_ids)
        return [SearchHit(frame_id, float(times[slot]), float(scores[slot]), frame_id in with_thumbs)
                for frame_id, slot in zip(frame_ids, best, strict=True)]

    def refresh(self) -> bool:
        """Read-only: reload the rows when another connection committed since the last look; True if it did.
        A writer's own index is always current (False)."""
        if not self.read_only or self._closed:
            return False
        with self._db_lock:
            (version,) = self._db.execute("pragma data_version").fetchone()
        if version == self._data_version:
            return False
        if not self._load_new_rows(version):
            self._load_rows()
        return True

    def _load_new_rows(self, version: int) -> bool:
        """Read-only: add the rows committed since the last look (ids only grow: one writer), instead of reading
        every row again (100 ms at 100,000 frames, on every query while frames come in). A new row's slot held an
        older frame, evicted by count in the same transaction; frames evicted by age leave at the next full load
        and are filtered by every search meanwhile. False: a full load is needed (a resized ring)."""
        with self._db_lock:
            self._db.execute("begin")
            (version,) = self._db.execute("pragma data_version").fetchone()
            rows = self._db.execute("select id, slot, frame_ts from frames where id >= ? order by id",
                                    (self._next_id,)).fetchall()
            (capacity,) = self._db.execute("select value from meta where key = 'capacity'").fetchone()
            self._db.execute("commit")
        if int(capacity) != self.max_frames:
            return False
        table = np.array(rows, dtype=np.float64).reshape(-1, 3)
        ids, slots, times = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]
        if np.any((slots < 0) | (slots >= self.max_frames)) or np.unique(slots).size != slots.size:
            return False  # a slot twice (the ring wrapped since the last look): which row holds it is the full load's
        with self._state_lock:
            # a slot already given to a newer frame (not committed yet): neither frame is searchable there
            fits = self._slot_ids[slots] == ids
            self._ts[slots], self._ids[slots] = np.where(fits, times, np.nan), np.where(fits, ids, -1)
            if rows:
                self._next_id = int(ids[-1]) + 1
                self._next_slot = int(slots[-1] + 1) % self.max_frames
                self._high = max(self._high, int(slots.max()) + 1)
            self._data_version = version
        return True

    def embed_text(self, text: str) -> npt.NDArray[np.float32]:
        """The query vector of ``text`` in the index's space; needs the model's text embedding."""
        if self._text is None:
            raise InputError("a text query needs the bundle's text embedding (embed_text): open the index with "
                             "model=<bundle>, or pass a vector")
        vector = self._text.embed(text)
        return self._check_vector(vector, "text embedding")

    def thumbnail(self, frame_id: int) -> bytes | None:
        """The frame's JPEG thumbnail; None when it has none or has been evicted."""
        self._check_open()
        with self._db_lock:
            row = self._db.execute("select thumbnail from frames where id = ?", (int(frame_id),)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def __len__(self) -> int:
        self.refresh()
        with self._state_lock:
            return int(np.count_nonzero(~np.isnan(self._ts)))

    def stats(self) -> dict[str, Any]:
        self.refresh()
        with self._state_lock:
            valid = self._ts[~np.isnan(self._ts)]
        return {"frames": int(valid.size), "capacity": self.max_frames, "dim": self.dim,
                "oldest_ts": float(valid.min()) if valid.size else None,
                "newest_ts": float(valid.max()) if valid.size else None, **self._counts,
                "eviction": "oldest_first"}

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "space": self.space, "max_age_s": self.max_age_s, **self.stats()}

    # -- ownership ------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.read_only:
            with self._state_lock:
                self._vectors.flush()
                self._slot_ids.flush()
        with self._db_lock:
            self._db.close()
        if self._text is not None:
            self._text.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers --------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise InputError(f"index at {self.path} is closed")

    def _check_vector(self, value: npt.ArrayLike, what: str) -> npt.NDArray[np.float32]:
        return check_vector(value, self.dim, what)

    def _with_thumbnails(self, frame_ids: Iterable[int]) -> set[int]:
        ids = list(frame_ids)
        with self._db_lock:
            rows = self._db.execute(f"select id from frames where thumbnail is not null and id in "
                                    f"({','.join('?' * len(ids))})", ids).fetchall()
        return {row[0] for row in rows}

    def _execute_many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        with self._db_lock, self._db:
            self._db.execute("begin")
            self._db.executemany(sql, params)
