"""A durable, bounded outbox of messages waiting for the broker's acknowledgement (SQLite, stdlib).

Durability: every :meth:`Outbox.append` is its own committed transaction before it returns, so
a message the publisher accepted survives a crash of the process (SIGKILL, OOM kill, a segfault
in a native library): the committed WAL frames are in the kernel's page cache and SQLite recovers
them on the next open. The WAL runs with ``synchronous=NORMAL``: commits do not fsync, only
checkpoints do (about every two seconds, from the publisher's outbox thread, not from the caller).
The trade-off: a *power loss* can lose the results committed since the last checkpoint, a couple
of seconds at most; a per-message fsync would cost milliseconds per result on an SD card.

The database is opened in SQLite's exclusive locking mode: one runtime owns one outbox, a second
process opening the same file gets a clear error instead of interleaving two sequences, and
commits skip the shared-memory lock dance (about 40% cheaper per message here). The owner writes
its device id and the pid of its run beside the file (``<path>.owner``), so that error
(:class:`OutboxInUseError`) can say which run holds it.

Bounds: ``max_bytes`` of payload (SQLite's page overhead comes on top, roughly 10-30%) with a
declared policy, ``drop_oldest`` or ``reject_new``, and ``max_age_s``; every dropped message is
counted in :meth:`Outbox.stats`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt.config import DropPolicy

if TYPE_CHECKING:
    from typing import Self

__all__ = ["Outbox", "OutboxInUseError", "OutboxRow"]

logger = logging.getLogger(__name__)

_SCHEMA_VERSION = 1
_SQL_VARIABLES_PER_STATEMENT = 500  # well under SQLite's 32766 default limit


class OutboxInUseError(PublishError):
    """Another process holds the outbox (another run for the same device, or the same outbox path)."""


class OutboxRow(NamedTuple):
    id: int
    boot: str
    seq: int
    topic: str
    payload: bytes
    created_s: float


class Outbox:
    """Messages in arrival order; thread-safe (one connection behind a lock)."""

    def __init__(
        self,
        path: Path | str,
        *,
        max_bytes: int = 50_000_000,
        max_age_s: float = 7 * 24 * 3600.0,
        drop_policy: DropPolicy = "drop_oldest",
        device_id: str | None = None,
        owner_pid: int | None = None,
    ) -> None:
        """``device_id`` and ``owner_pid`` (default: this process) are what a second opener is told."""
        if drop_policy not in ("drop_oldest", "reject_new"):
            raise ValueError(f"drop_policy must be 'drop_oldest' or 'reject_new'. Got: {drop_policy!r}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.drop_policy = drop_policy
        self.device_id = device_id
        self.owner_pid = os.getpid() if owner_pid is None else owner_pid
        self._owner_path = self.path.with_name(self.path.name + ".owner")
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._next_id = 1
        self._count = 0
        self._bytes = 0
        self.dropped_oldest = 0
        self.rejected_new = 0
        self.expired = 0
        self.recovered = 0  # messages found at open, left by an earlier run
        # Rows are dropped (drop_oldest, expiry) oldest first: every id up to this one is gone.
        # A reader holding rows in memory skips those at or below it.
        self.dropped_through_id = 0

    # -- life cycle ------------------------------------------------------------------------------

    def open(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we write BEGIN/COMMIT ourselves, one transaction per call.
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=1.0)
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints fsync; the publisher runs them from its own thread via checkpoint().
            db.execute("PRAGMA wal_autocheckpoint=0")
            db.execute("BEGIN IMMEDIATE")  # takes the exclusive lock now, not at the first append
            db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, boot TEXT NOT NULL, "
                "seq INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, created_s REAL NOT NULL)"
            )
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),))
            elif int(version[0]) != _SCHEMA_VERSION:
                db.execute("ROLLBACK")
                db.close()
                raise PublishError(
                    f"outbox {self.path} has schema version {version[0]}; this edge_sdk reads version "
                    f"{_SCHEMA_VERSION}. Move the file away or use another mqtt.outbox.path"
                )
            count, total, max_id = db.execute(
                "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(max(id), 0) FROM outbox"
            ).fetchone()
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise OutboxInUseError(self._in_use_message()) from exc
            raise PublishError(f"cannot open outbox {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise PublishError(f"outbox {self.path} is not a readable SQLite database: {exc}") from exc
        self._db = db
        self._write_owner()
        self._count, self._bytes, self._next_id = count, total, max_id + 1
        self.recovered = count
        if count:
            logger.info("outbox %s holds %d undelivered messages (%d bytes) from an earlier run", self.path, count, total)
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is None:
                return
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # the data is still safe in the WAL; log and go on closing
                logger.warning("outbox checkpoint at close failed: %s", exc)
            self._owner_path.unlink(missing_ok=True)  # while still ours: the next owner writes its own
            self._db.close()
            self._db = None

    def _write_owner(self) -> None:
        try:
            self._owner_path.write_text(json.dumps({"pid": self.owner_pid, "device": self.device_id}))
        except OSError as exc:  # only the message to a second opener gets vaguer
            logger.debug("cannot write %s: %s", self._owner_path, exc)

    def _in_use_message(self) -> str:
        try:
            owner = json.loads(self._owner_path.read_text())
        except (OSError, ValueError):
            owner = {}
        device = owner.get("device") or self.device_id
        pid = owner.get("pid")
        return (f"another edge-sdk run{f' for device {device}' if device else ''} holds the outbox at {self.path} "
                f"(pid {pid if pid else 'unknown'}): stop it, or give this run its own device id or mqtt.outbox.path")

    def __enter__(self) -> Self:
        return self.open() if self._db is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------------

    def append(self, boot: str, seq: int, topic: str, payload: bytes, created_s: float | None = None) -> int | None:
        """Store one message and commit; return its row id, or None when the drop policy refused it."""
        return self.append_many(boot, ((seq, topic, payload),), created_s)[0]

    def append_many(
        self, boot: str, messages: Iterable[tuple[int, str, bytes]], created_s: float | None = None
    ) -> list[int | None]:
        """Store ``(seq, topic, payload)`` messages in one committed transaction.

        One commit for a burst instead of one per message: the guarantee is the same (all are on
        disk when this returns), the cost per message is a fraction. Returns the row ids in order,
        None where the drop policy refused a message.
        """
        created_s = time.time() if created_s is None else created_s
        ids: list[int | None] = []
        with self._lock:
            db = self._require_open()
            next_id, added, added_bytes = self._next_id, 0, 0
            rows: list[tuple[int, str, int, str, bytes, float]] = []  # inserted with one executemany
            db.execute("BEGIN")
            try:
                for seq, topic, payload in messages:
                    size = len(payload)
                    total = self._bytes + added_bytes + size
                    if size > self.max_bytes or (total > self.max_bytes and self.drop_policy == "reject_new"):
                        self.rejected_new += 1
                        ids.append(None)
                        continue
                    if total > self.max_bytes:
                        self._insert(db, rows)  # the oldest may be rows of this very call
                        self._drop_oldest(total - self.max_bytes)
                    rows.append((next_id, boot, seq, topic, payload, created_s))
                    ids.append(next_id)
                    next_id, added, added_bytes = next_id + 1, added + 1, added_bytes + size
                self._insert(db, rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            # Only now do readers (the delivery thread) see the new rows: they are on disk.
            self._next_id, self._count, self._bytes = next_id, self._count + added, self._bytes + added_bytes
        return ids

    @staticmethod
    def _insert(db: sqlite3.Connection, rows: list[tuple[int, str, int, str, bytes, float]]) -> None:
        if rows:
            db.executemany("INSERT INTO outbox (id, boot, seq, topic, payload, created_s) VALUES (?, ?, ?, ?, ?, ?)",
                           rows)
            rows.clear()

    def remove(self, ids: Iterable[int]) -> int:
        """Delete acknowledged messages (ids already gone are ignored); return how many went."""
        id_list = list(ids)
        removed = 0
        with self._lock:
            db = self._require_open()
            db.execute("BEGIN")
            for start in range(0, len(id_list), _SQL_VARIABLES_PER_STATEMENT):
                chunk = id_list[start:start + _SQL_VARIABLES_PER_STATEMENT]
                marks = ",".join("?" * len(chunk))
                sizes = db.execute(f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING length(payload)", chunk)
                for (size,) in sizes.fetchall():
                    removed += 1
                    self._bytes -= size
            db.execute("COMMIT")
            self._count -= removed
        return removed

    def expire(self, now_s: float | None = None) -> int:
        """Drop messages older than ``max_age_s``; return how many."""
        cutoff = (time.time() if now_s is None else now_s) - self.max_age_s
        with self._lock:
            db = self._require_open()
            # Rows are appended in time order, so only the head can be expired: look at it first
            # instead of scanning the table every second.
            head = db.execute("SELECT created_s FROM outbox ORDER BY id LIMIT 1").fetchone()
            if head is None or head[0] >= cutoff:
                return 0
            db.execute("BEGIN")
            rows = db.execute(
                "DELETE FROM outbox WHERE created_s < ? RETURNING id, length(payload)", (cutoff,)
            ).fetchall()
            db.execute("COMMIT")
            self._count -= len(rows)
            self._bytes -= sum(size for (_, size) in rows)
            self.expired += len(rows)
            if rows:
                self.dropped_through_id = max(self.dropped_through_id, max(row_id for (row_id, _) in rows))
        if rows:
            logger.warning("outbox: dropped %d messages older than %.0f s (max_age_s)", len(rows), self.max_age_s)
        return len(rows)

    def checkpoint(self) -> None:
        """Copy the WAL into the database file (this is where the fsync happens)."""
        with self._lock:
            self._require_open().execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- reads -----------------------------------------------------------------------------------

    def pending_after(self, after_id: int, limit: int, before_id: int | None = None) -> list[OutboxRow]:
        """Up to ``limit`` messages with ``after_id < id < before_id``, oldest first."""
        before = self._next_id if before_id is None else before_id
        with self._lock:
            rows = self._require_open().execute(
                "SELECT id, boot, seq, topic, payload, created_s FROM outbox WHERE id > ? AND id < ? "
                "ORDER BY id LIMIT ?",
                (after_id, before, limit),
            ).fetchall()
        return [OutboxRow(*row) for row in rows]

    @property
    def last_id(self) -> int:
        return self._next_id - 1

    def __len__(self) -> int:
        return self._count

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def stats(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "pending": self._count,
            "pending_bytes": self._bytes,
            "max_bytes": self.max_bytes,
            "drop_policy": self.drop_policy,
            "dropped_oldest": self.dropped_oldest,
            "rejected_new": self.rejected_new,
            "expired": self.expired,
            "recovered": self.recovered,
        }

    # -- internals -------------------------------------------------------------------------------

    def _require_open(self) -> sqlite3.Connection:
        if self._db is None:
            raise PublishError(f"outbox {self.path} is not open")
        return self._db

    def _drop_oldest(self, bytes_to_free: int) -> None:
        db = self._require_open()
        freed = dropped = 0
        own_transaction = not db.in_transaction  # inside append_many, its transaction covers this
        if own_transaction:
            db.execute("BEGIN")
        while freed < bytes_to_free:
            rows = db.execute("SELECT id, length(payload) FROM outbox ORDER BY id LIMIT 64").fetchall()
            if not rows:
                break
            victims = []
            for row_id, size in rows:
                victims.append(row_id)
                freed += size
                if freed >= bytes_to_free:
                    break
            db.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(victims))})", victims)
            dropped += len(victims)
            self.dropped_through_id = max(self.dropped_through_id, victims[-1])
        if own_transaction:
            db.execute("COMMIT")
        self._count -= dropped
        self._bytes -= freed
        if self.dropped_oldest == 0 or (self.dropped_oldest + dropped) // 1000 > self.dropped_oldest // 1000:
            logger.warning(
                "outbox full (%d bytes): dropped the oldest messages, %d so far (drop_policy=drop_oldest)",
                self.max_bytes, self.dropped_oldest + dropped,
            )
        self.dropped_oldest += dropped
