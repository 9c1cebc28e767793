"""Actions: turn inference results into actuator commands, safely.

``on_result(label, confidence, timestamp_s)`` is cheap and never blocks on the serial line: it
only decides what the robot *should* do. A named worker thread does the I/O. The rules:

- a rule fires when its label wins with at least its ``min_confidence``; a result no rule accepts
  means "safe" (or "keep going" with ``on_no_match="hold"``);
- **debounce**: a new action must win ``debounce_results`` results in a row;
- **rate limit**: at most one change of action per ``min_interval_s`` (the safe command is exempt);
- **stale results**: when no fresh result arrived for ``stale_after_s`` (a result already older
  than that on arrival does not count), the safe command is sent: a robot never keeps driving on
  an old answer;
- **link drop**: when the link comes back, the safe command is sent before anything else (the
  firmware's own failsafe covers the time in between);
- ``close()`` sends the safe command last.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from firmware_bridge.config import ActionsConfig
from firmware_bridge.errors import BridgeError, LinkError

__all__ = ["SAFE", "ActionController", "ActionStats", "CommandLink"]

log = logging.getLogger(__name__)
SAFE = "safe"  # the name of the safe action in stats and logs


class CommandLink(Protocol):
    """What the controller needs from a link (BridgeLink has it)."""

    @property
    def state(self) -> Any: ...

    def send_command(
        self, actuator: str | int, value: int, *, timeout_s: float | None = None
    ) -> Any: ...


@dataclass(frozen=True)
class ActionStats:
    results: int
    results_too_old: int
    action_changes: int
    commands_sent: int
    commands_acked: int
    commands_failed: int
    rate_limited: int
    safe_stops: int
    last_safe_stop_ms: (
        float | None
    )  # results stale (or link back) → safe command acknowledged
    current_action: str | None


class ActionController:
    """Runs the rules of ``config`` against results and drives ``link``. Use as a context manager."""

    def __init__(self, link: CommandLink, config: ActionsConfig) -> None:
        self._link = link
        self.config = config
        self._cond = threading.Condition()
        self._closing = False
        now = time.monotonic()
        self._last_result_s = (
            now  # nothing yet: the robot is stopped once stale_after_s passes
        )
        self._candidate: str | None = None
        self._streak = 0
        self._desired: str | None = None
        self._active: str | None = None
        self._last_change_s = -1e9
        self._link_was_up = True
        self._counts = dict.fromkeys(
            ("results", "results_too_old", "action_changes", "commands_sent", "commands_acked",
             "commands_failed", "rate_limited", "safe_stops"), 0)  # fmt: skip
        self._last_safe_stop_ms: float | None = None
        self._rules = {rule.label: rule for rule in config.rules}
        self._thread = threading.Thread(
            target=self._run, name="firmware-bridge-actions", daemon=True
        )
        self._thread.start()

    # -- called by the runtime ---------------------------------------------------------------
    def on_result(
        self, label: str, confidence: float, timestamp_s: float | None = None
    ) -> None:
        """A new result; ``timestamp_s`` is its capture time in ``time.time()`` seconds."""
        if (
            timestamp_s is not None
            and time.time() - timestamp_s > self.config.stale_after_s
        ):
            self._counts["results_too_old"] += 1
            return
        rule = self._rules.get(label)
        if rule is not None and confidence >= rule.min_confidence:
            candidate: str | None = rule.label
        else:
            candidate = SAFE if self.config.on_no_match == "safe" else None
        with self._cond:
            self._counts["results"] += 1
            self._last_result_s = time.monotonic()
            if candidate is None:
                return  # hold: fresh result, same action
            if candidate == self._candidate:
                self._streak += 1
            else:
                self._candidate, self._streak = candidate, 1
            if (
                self._streak >= self.config.debounce_results
                and self._desired != candidate
            ):
                self._desired = candidate
                self._cond.notify()

    def close(self, send_safe: bool = True) -> None:
        """Stop the worker, then send the safe command (if the link is up). Idempotent."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify()
        self._thread.join(5.0)
        if send_safe and _is_connected(self._link):
            self._send(SAFE, self.config.safe_command, deadline_s=None)

    def __enter__(self) -> ActionController:  # noqa: PYI034 (not meant for subclassing)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> ActionStats:
        with self._cond:
            return ActionStats(
                last_safe_stop_ms=self._last_safe_stop_ms,
                current_action=self._active,
                **self._counts,
            )

    # -- worker ------------------------------------------------------------------------------
    def _run(self) -> None:
        tick_s = min(self.config.stale_after_s / 5, 0.02)
        while True:
            with self._cond:
                self._cond.wait(tick_s)
                if self._closing:
                    return
                desired, last_result_s = self._desired, self._last_result_s
            now = time.monotonic()
            if not _is_connected(self._link):
                if self._link_was_up:
                    log.warning(
                        "link down: the firmware's failsafe holds until it is back"
                    )
                self._link_was_up = False
                self._active = (
                    None  # unknown after a drop: the device may have rebooted
                )
                continue
            if not self._link_was_up:
                self._link_was_up = True
                if self._send(SAFE, self.config.safe_command, deadline_s=now):
                    with self._cond:
                        self._desired = (
                            None  # act again only on results that come after the drop
                        )
                        self._candidate, self._streak = None, 0
                continue
            stale_at = last_result_s + self.config.stale_after_s
            if now >= stale_at:
                if self._active != SAFE:
                    log.info(
                        "results stale for %.0f ms: sending the safe command",
                        (now - last_result_s) * 1000,
                    )
                    if self._send(SAFE, self.config.safe_command, deadline_s=stale_at):
                        with self._cond:
                            self._desired = None
                            self._candidate, self._streak = None, 0
                continue
            if desired is None or desired == self._active:
                continue
            if (
                desired != SAFE
                and now - self._last_change_s < self.config.min_interval_s
            ):
                self._counts["rate_limited"] += 1
                continue
            commands = (
                self.config.safe_command
                if desired == SAFE
                else self._rules[desired].commands
            )
            self._send(desired, commands, deadline_s=now if desired == SAFE else None)

    def _send(
        self, action: str, commands: Mapping[str, int], deadline_s: float | None
    ) -> bool:
        """Send every actuator value of ``action``; True when all were acknowledged."""
        ok = True
        for actuator, value in commands.items():
            self._counts["commands_sent"] += 1
            try:
                self._link.send_command(actuator, value)
            except (BridgeError, LinkError) as exc:
                ok = False
                self._counts["commands_failed"] += 1
                log.warning("action %s: %s=%s failed: %s", action, actuator, value, exc)
            else:
                self._counts["commands_acked"] += 1
        if not ok:
            self._active = None  # retried on the next tick
            return False
        now = time.monotonic()
        with self._cond:
            if self._active != action:
                self._counts["action_changes"] += 1
            self._active = action
            self._last_change_s = now
            if action == SAFE and deadline_s is not None:
                self._counts["safe_stops"] += 1
                self._last_safe_stop_ms = max(0.0, (now - deadline_s) * 1000.0)
        log.debug("action %s acknowledged", action)
        return True


def _is_connected(link: CommandLink) -> bool:
    state = link.state
    return str(getattr(state, "value", state)) == "connected"
