"""Delivery rounds: stored results to paho in order, acknowledgements back to the outbox.

Data path::

    publish_result ─▶ outbox.append (committed) ─▶ queue(row id, payload): in memory, no lock
    pump()         ─▶ paho.publish(QoS 1) from memory; from the file only for what memory lacks
                     at most ``window`` messages handed to paho and not yet acknowledged
    PUBACK ─▶ on_publish() ─▶ ack queue ─▶ pump() ─▶ outbox.remove (batched)

Who calls :meth:`Delivery.pump`: with ``mqtt.delivery: threads``, the ``edge_sdk-mqtt-outbox``
thread, woken by new results and by acknowledgements from paho's network thread; in the delivery
process, the :class:`~edge_sdk.sinks.mqtt.selector_loop.SelectorLoop` after each wake-up, on the
thread that also reads the PUBACKs (``start(client, thread=False)``), so nothing is handed between
threads there.

Sending from the caller's thread instead (when in order and the window has room) was tried
and measured: it made the outbox bench 30 % slower, because each paho.publish from outside
paho's thread writes to paho's wake-up socket and hands the GIL over, once per message instead
of once per batch.

The retained latest result is refreshed at most every ``latest_interval_s`` (the newest always
goes out last): at hundreds of results per second it was a second message per result.

Costs are paid per batch, not per message, when results come in a burst: the outbox thread sleeps
while the window is full and is woken when a quarter of the window has been acknowledged, then
sends that many at once (the selector loop sends as many as the acknowledgements of one read freed); acknowledged rows are deleted in one transaction per ``delete_batch``
rows or ``delete_delay_s``, whichever comes first. The price of the delayed delete: after a crash,
rows acknowledged in the last ``delete_delay_s`` are sent again (marked ``replayed``), which
at-least-once delivery allows and ``(boot, seq)`` lets consumers drop.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from edge_sdk.sinks.mqtt.outbox import Outbox, OutboxRow
from edge_sdk.sinks.mqtt.payload import mark_replayed

__all__ = ["Delivery"]

logger = logging.getLogger(__name__)

_IDLE_S = 0.5
_EXPIRE_EVERY_S = 1.0
_CHECKPOINT_EVERY_S = 2.0


class Delivery:
    """Owns the in-flight window, the acknowledgements and, with delivery threads, the ``edge_sdk-mqtt-outbox`` thread."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        boot: str,
        window: int,
        connected: threading.Event,
        counts: collections.Counter[str],
        on_refused: Callable[[int, str], None],
        events_topic: str,
        result_topic: str,
        result_qos: int,
        memory_rows: int = 1024,
        delete_batch: int = 64,
        delete_delay_s: float = 0.25,
        latest_interval_s: float = 0.0,
    ) -> None:
        self._outbox = outbox
        self._boot = boot
        self._window = window
        self._ack_batch = max(1, window // 4)
        self._connected = connected
        self._counts = counts
        self._on_refused = on_refused
        self._events_topic = events_topic
        self._result_topic = result_topic
        self._memory_rows = memory_rows
        self._result_qos = result_qos
        self._delete_batch = delete_batch
        self._delete_delay_s = delete_delay_s
        self._latest_interval_s = latest_interval_s
        self._latest_sent_s = -float("inf")
        self._last_expire_s = self._last_checkpoint_s = time.monotonic()
        self._paused_until_s = 0.0  # after a failed round: no retry before this (time.monotonic)
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self._wake_event = threading.Event()
        self._stop = threading.Event()
        self._drained = threading.Condition()
        self._flushing = 0  # callers waiting in flush(): delete and wake at once
        # Only the outbox thread touches these four (and stop(), after joining it).
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._cursor = 0  # highest outbox row id handed to paho
        self._acked_ids: list[int] = []  # acknowledged, not deleted yet
        self._first_acked_s = 0.0
        # Highest row id given to queue(), set after the row is in _unsent. Rows above it may be
        # committed but not queued yet: the outbox thread must not read them back as a gap.
        self._queued_through = 0
        # (mid, refusal) from paho's thread. paho holds its own lock while calling on_publish, so
        # the ack is queued here instead of touching the window under a lock of ours.
        self._acks: collections.deque[tuple[int, str | None]] = collections.deque()
        self._window_full = False  # the outbox thread waits for acks; new results need not wake it
        # (row id, payload, topic or None for events) of messages committed and not yet handed to
        # paho, in id order: the outbox thread sends these without reading the file back. Bounded by
        # memory_rows; rows that do not fit are found in the file (a gap in the ids).
        self._unsent: collections.deque[tuple[int, bytes, str | None]] = collections.deque()
        self.file_reads = 0  # rows read back from the outbox file (replays, long outages)
        self.latest: bytes | None = None  # latest result for the retained topic, not sent yet

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def in_memory(self) -> int:
        """Results committed and kept in memory for sending (at most ``memory_rows``)."""
        return len(self._unsent)

    @property
    def awaiting_delete(self) -> int:
        return len(self._acked_ids) + len(self._acks)

    def start(self, client: Any, *, thread: bool = True) -> None:
        """Start sending through ``client``: from the ``edge_sdk-mqtt-outbox`` thread, or (``thread``
        false) from whoever calls :meth:`pump`, the selector loop that also drives paho."""
        self._client = client
        self._queued_through = self._outbox.last_id  # rows of earlier runs: read from the file
        if thread:
            self._thread = threading.Thread(target=self._run, name="edge_sdk-mqtt-outbox", daemon=True)
            self._thread.start()

    def queue(self, row_id: int, payload: bytes, topic: str | None = None) -> None:
        """A message just committed to the outbox as ``row_id``, for ``topic`` (None: the events topic);
        call in id order. Cheap: no lock."""
        if len(self._unsent) < self._memory_rows:
            self._unsent.append((row_id, payload, topic))
        self._queued_through = row_id  # after the append: the thread never sees a gap that is not one
        # Event.set takes a lock and wakes the thread; skip it when that would change nothing.
        if not self._window_full and not self._wake_event.is_set():
            self._wake_event.set()

    def wake(self) -> None:
        """New work (a result, a connection): cheap enough to call for every result."""
        if not self._window_full:
            self._wake_event.set()

    def wake_now(self) -> None:
        """Wake even when the window is full (connect, flush)."""
        self._wake_event.set()

    def on_publish(self, mid: int, reason_code: Any) -> None:
        """paho's network thread: a PUBACK (or the local completion of a QoS 0 message)."""
        acks = self._acks
        acks.append((mid, str(reason_code) if reason_code.is_failure else None))
        # Wake for a batch, or for the last acknowledgements a flush() waits for. Reading the size
        # of the outbox thread's map from here is a heuristic; the thread's timer covers a miss.
        if len(acks) >= self._ack_batch or (self._flushing and len(acks) >= len(self._inflight)):
            self._wake_event.set()

    def flush(self, timeout_s: float, run_until: Callable[[Callable[[], bool], float], bool] | None = None) -> bool:
        """Wait until the outbox is empty (everything acknowledged and deleted); False on timeout.
        ``run_until(done, timeout_s)``: the selector loop, which runs :meth:`pump` meanwhile."""
        if run_until is not None:
            self._flushing += 1
            try:
                return run_until(lambda: len(self._outbox) == 0, timeout_s)
            finally:
                self._flushing -= 1
        deadline = time.monotonic() + timeout_s
        with self._drained:
            self._flushing += 1
            try:
                while len(self._outbox) > 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._wake_event.set()
                    self._drained.wait(min(remaining, 0.1))
            finally:
                self._flushing -= 1
        return True

    def stop(self) -> None:
        """Stop the thread and delete what was acknowledged meanwhile; idempotent."""
        self._stop.set()
        self._wake_event.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._settle_acks()
        if self._acked_ids:
            self._delete_acked()

    # -- the rounds (the outbox thread, or the selector loop) ------------------------------------

    def _run(self) -> None:
        wake = self._wake_event
        timeout_s = _IDLE_S
        while not self._stop.is_set():
            wake.wait(timeout_s)
            # Clear before looking for work: a result appended after this point wakes us again.
            wake.clear()
            timeout_s = self.pump()

    def pump(self) -> float:
        """One round: settle acknowledgements, send what the window allows, delete, expire and
        checkpoint when due. Returns the seconds until it has timed work (a delete, the retained
        result, expiry); new results, acknowledgements and connections need a call earlier."""
        now = time.monotonic()
        if now < self._paused_until_s:
            return self._paused_until_s - now
        self._window_full = False
        try:
            self._round()
            now = time.monotonic()
            if now - self._last_expire_s >= _EXPIRE_EVERY_S:
                self._last_expire_s = now
                self._outbox.expire()
            if now - self._last_checkpoint_s >= _CHECKPOINT_EVERY_S:
                self._last_checkpoint_s = now
                self._outbox.checkpoint()
        except Exception:  # keep delivering: a failed round is retried after a pause
            self._counts["pump_errors"] += 1
            logger.exception("outbox delivery: round failed, retrying in %g s", _IDLE_S)
            self._paused_until_s = time.monotonic() + _IDLE_S
            return _IDLE_S
        timeout_s = self._delete_delay_s if self._acks or self._acked_ids else _IDLE_S
        if self.latest is not None and self._connected.is_set():  # held back by latest_interval_s
            timeout_s = min(timeout_s, max(0.0, self._latest_sent_s + self._latest_interval_s - time.monotonic()))
        return timeout_s

    def _round(self) -> None:
        self._settle_acks()
        if self._connected.is_set():
            self._send()
            self._send_latest()
        if self._acked_ids and (
            len(self._acked_ids) >= self._delete_batch
            or (self._flushing and not self._inflight)
            or time.monotonic() - self._first_acked_s >= self._delete_delay_s
        ):
            self._delete_acked()

    def _send(self) -> None:
        inflight, client, outbox, unsent = self._inflight, self._client, self._outbox, self._unsent
        topic = self._events_topic
        cursor = self._cursor
        room = self._window - len(inflight)
        try:
            while room > 0:
                # Rows the cursor passed (read from the file meanwhile) or the outbox dropped: the
                # file decides whether they still exist, as a gap below.
                dropped = outbox.dropped_through_id
                while unsent and (unsent[0][0] <= cursor or unsent[0][0] <= dropped):
                    unsent.popleft()
                head = unsent[0][0] if unsent else self._queued_through + 1
                if head > cursor + 1:  # older rows only in the file: an earlier run, a long outage
                    rows = outbox.pending_after(cursor, room, before_id=head)
                    if rows:
                        cursor = self._send_stored(rows)
                        room -= len(rows)
                        continue
                    cursor = head - 1  # nothing stored in between: dropped or never accepted
                if not unsent:
                    break
                row_id, payload, row_topic = unsent.popleft()
                inflight[client.publish(row_topic or topic, payload, qos=1).mid] = row_id
                cursor = row_id
                room -= 1
        finally:
            self._cursor = cursor
        if room <= 0:
            self._window_full = True  # on_publish wakes us when a quarter of the window is free

    def _send_stored(self, rows: list[OutboxRow]) -> int:
        inflight, client, boot = self._inflight, self._client, self._boot
        for row in rows:
            payload = row.payload
            if row.boot != boot:  # left by an earlier run of the process
                payload = mark_replayed(payload)
                self._counts["replayed"] += 1
            inflight[client.publish(row.topic, payload, qos=1).mid] = row.id
        self.file_reads += len(rows)
        return rows[-1].id

    def _send_latest(self) -> None:
        if self.latest is None:
            return
        now = time.monotonic()
        if now - self._latest_sent_s < self._latest_interval_s and not self._flushing:
            return  # the loop's timeout brings us back when the interval is over
        latest, self.latest = self.latest, None
        self._latest_sent_s = now
        info = self._client.publish(self._result_topic, latest, qos=self._result_qos, retain=True)
        if info.rc != 0 and self.latest is None:  # the connection just went; send it after reconnecting
            self.latest = latest

    def _settle_acks(self) -> None:
        acks = self._acks
        if not acks:
            return
        inflight, done = self._inflight, self._acked_ids
        if not done:
            self._first_acked_s = time.monotonic()
        settled = refused = 0
        reason = ""
        while acks:
            mid, refusal = acks.popleft()
            row_id = inflight.pop(mid, None)
            if row_id is None:  # availability, discovery and other messages outside the outbox
                continue
            done.append(row_id)
            settled += 1
            if refusal is not None:
                refused, reason = refused + 1, refusal
        self._counts["acked"] += settled - refused
        if refused:
            # MQTT 5 brokers say why (e.g. ACL: not authorized); resending would be refused again,
            # so the result leaves the outbox and is counted instead of blocking everything after it.
            self._on_refused(refused, reason)

    def _delete_acked(self) -> None:
        ids, self._acked_ids = self._acked_ids, []
        self._outbox.remove(ids)
        with self._drained:
            self._drained.notify_all()
