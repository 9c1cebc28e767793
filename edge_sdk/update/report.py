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
        if self._send is not None:
            try:
                self._send("update", json.dumps(report, separators=(",", ":")).encode())
            except Exception:  # noqa: BLE001 - a report lost in a broker outage never stops the update
                _log.warning("sending the update report failed", exc_info=True)
        return report

    def resend(self, report: dict[str, Any]) -> None:
        """Send an earlier report again, as it was."""
        if self._send is not None:
            try:
                self._send("update", json.dumps(report, separators=(",", ":")).encode())
            except Exception:  # noqa: BLE001 - as in step()
                _log.warning("sending the update report failed", exc_info=True)

    def find(self, update: str | None, steps: tuple[str, ...]) -> dict[str, Any] | None:
        """The latest report of ``update`` at one of ``steps``, if one was made."""
        with self._lock:
            return next((r for r in reversed(self.history) if r["update"] == update and r["step"] in steps), None)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"steps": dict(self.steps), "last_step": self.last["step"] if self.last else None,
                    "last_error": self.last_error}
