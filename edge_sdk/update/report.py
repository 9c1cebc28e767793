"""Update reports on ``<prefix>/<device>/update`` (schema ``edge_sdk.update/1``) and their tally for ``stats()``."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from edge_sdk.clock import wall_s
from edge_sdk.update.errors import UpdateError

__all__ = ["UPDATE_SCHEMA", "Reporter"]

UPDATE_SCHEMA = "edge_sdk.update/1"
_log = logging.getLogger(__name__)
Send = Callable[[str, bytes], object]  # (topic relative to the device, payload)


class Reporter:
    """Builds, sends (QoS 1) and counts the reports; keeps the last ones for ``stats()``."""

    def __init__(self, device: str, send: Send | None, serving: Callable[[], tuple[str, int]]) -> None:
        self.device, self._send, self._serving = device, send, serving
        self._lock = threading.Lock()
        self.steps: Counter[str] = Counter()
        self.last: dict[str, Any] | None = None
        self.last_error: dict[str, str] | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=256)  # the latest reports, oldest first
        self._unsent: deque[dict[str, Any]] = deque(maxlen=64)  # refused while disconnected: drop_oldest

    def step(self, step: str, update: str | None, model: str | None, version: int | None, *,
             error: UpdateError | None = None, code: str | None = None, message: str | None = None,
             **detail: Any) -> dict[str, Any]:
        name, serving_version = self._serving()
        failure = None
        if error is not None:
            failure = {"code": error.code, "message": str(error)}
        elif code is not None:
            failure = {"code": code, "message": message or code}
        report = {"schema": UPDATE_SCHEMA, "device": self.device, "ts": round(wall_s(), 3), "update": update,
                  "model": model, "version": version, "step": step, "ok": failure is None, "error": failure,
                  "detail": detail, "serving": {"model": name, "version": serving_version}}
        with self._lock:
            self.steps[step] += 1
            self.last = report
            self.history.append(report)
            if failure is not None:
                self.last_error = failure
        log = _log.warning if failure is not None else _log.info
        log("update %s: %s v%s %s%s", update, model, version, step, f" ({failure['message']})" if failure else "")
        self._deliver(report)
        return report

    def resend(self, report: dict[str, Any]) -> None:
        """Send an earlier report again, as it was."""
        self._deliver(report)

    @property
    def unsent(self) -> int:
        return len(self._unsent)

    def flush(self) -> None:
        """Send the reports a disconnected broker did not take, oldest first (the boot report goes out before
        the connection is up); stops at the first that is refused again."""
        while self._send is not None:
            with self._lock:
                if not self._unsent:
                    return
                report = self._unsent[0]
            if not self._try_send(report):
                return
            with self._lock:
                if self._unsent and self._unsent[0] is report:
                    self._unsent.popleft()

    def _deliver(self, report: dict[str, Any]) -> None:
        if self._send is None:
            return
        self.flush()
        with self._lock:
            waiting = bool(self._unsent)
        if waiting or not self._try_send(report):  # keep the order: behind the ones still waiting
            with self._lock:
                self._unsent.append(report)

    def _try_send(self, report: dict[str, Any]) -> bool:
        assert self._send is not None
        try:
            return self._send("update", json.dumps(report, separators=(",", ":")).encode()) is not False
        except Exception:  # noqa: BLE001 - a report lost in a broker outage never stops the update
            _log.warning("sending the update report failed", exc_info=True)
            return False

    def find(self, update: str | None, steps: tuple[str, ...]) -> dict[str, Any] | None:
        """The latest report of ``update`` at one of ``steps``, if one was made."""
        with self._lock:
            return next((r for r in reversed(self.history) if r["update"] == update and r["step"] in steps), None)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"steps": dict(self.steps), "last_step": self.last["step"] if self.last else None,
                    "last_error": self.last_error, "reports_unsent": len(self._unsent)}
