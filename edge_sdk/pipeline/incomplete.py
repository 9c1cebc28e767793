"""Say why frames are skipped as incomplete while it happens, not only in the final stats.

A frame whose text or sensor reading is missing or older than its max age is skipped (counted in
``drops.incomplete_inputs``). A run that skips every frame looks idle; :class:`IncompleteWarner`
logs, at most every ``interval_s``, how many frames were skipped, which input was missing, why (no
reading yet, readings rejected, or the newest one too old for ``max_age_s``) and what to check. The
first warning waits ``grace_s`` after the first skip, or ``grace_frames`` skipped frames (a file
played with ``every_frame`` skips hundreds a second), so a prompt that arrives a moment after the
camera starts says nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from edge_sdk.clock import now_s
from edge_sdk.pipeline.align import Aligner
from edge_sdk.pipeline.readings import LatestValue
from edge_sdk.sources.frame import Frame

__all__ = ["IncompleteWarner", "describe_missing"]

_log = logging.getLogger("edge_sdk.pipeline")

_SETTING = {"text": "text.max_age_s", "sensor": "sensor.max_age_s"}


def describe_missing(role: str, slot: LatestValue[Any] | None, at_s: float) -> str:
    """Why ``slot`` (the ``role`` input) gave no reading for a frame at ``at_s``, and what to check."""
    if slot is None:
        return f"{role}: the model takes a {role} input but the pipeline has no {role} slot"
    stats = slot.stats()
    last_ts_s = stats["last_ts_s"]
    if not isinstance(last_ts_s, float):
        why = f"{slot.name}: no reading yet; check that its source sends one"
    elif at_s - last_ts_s > (slot.max_age_s or float("inf")):
        why = (f"{slot.name}: the newest reading is {at_s - last_ts_s:.1f} s old at the frame, over its max age of "
               f"{slot.max_age_s:g} s; check that readings keep coming, or raise {_SETTING.get(role, 'max_age_s')} "
               "(null: never expires)")
    else:
        why = f"{slot.name}: no reading taken at or before the frame (readings are stamped later than the frames)"
    if stats["rejected"]:
        why += f"; {stats['rejected']} input(s) rejected, the last: {stats['last_error']}"
    if slot.advice:
        why += f". {slot.advice}"
    return why


class IncompleteWarner:
    """Rate-limited warnings for frames skipped as incomplete; :meth:`skipped` runs on the worker per skip."""

    def __init__(self, aligner: Aligner, *, needs_text: bool, needs_sensor: bool, interval_s: float = 5.0,
                 grace_s: float = 1.0, grace_frames: int = 30) -> None:
        self._aligner = aligner
        self._roles = [role for role, needed in (("text", needs_text), ("sensor", needs_sensor)) if needed]
        self.interval_s, self.grace_s, self.grace_frames = interval_s, grace_s, grace_frames
        self._first = True  # in the grace of a new run of skips
        self._due_s = 0.0
        self._since_s = self._last_skip_s = -float("inf")
        self._frames_mark = 0  # the aligner's frame count when this window began
        self._skipped = {"frames": 0, "text": 0, "sensor": 0}
        self.warnings = 0

    def skipped(self, frame: Frame, *, text: bool, sensor: bool) -> None:
        """Count a skipped frame; ``text``/``sensor``: that input was missing. Logs when a warning is due."""
        now = now_s()
        if now - self._last_skip_s > self.interval_s:  # a new run of skips: wait out the grace before saying so
            self._new_window(now, now + self.grace_s, frames_mark=self._aligner.frames - 1)
            self._first = True
        self._last_skip_s = now
        counts = self._skipped
        counts["frames"] += 1
        counts["text"] += text
        counts["sensor"] += sensor
        if now < self._due_s and not (self._first and counts["frames"] >= self.grace_frames):
            return
        self._first = False
        slots = {"text": self._aligner.text, "sensor": self._aligner.sensor}
        reasons = [f"{counts[role]} without {role} ({describe_missing(role, slots[role], frame.timestamp_s)})"
                   for role in self._roles if counts[role]]
        _log.warning("skipped %d of %d frames in the last %.1f s as incomplete: %s", counts["frames"],
                     self._aligner.frames - self._frames_mark, now - self._since_s, "; ".join(reasons))
        self.warnings += 1
        self._new_window(now, now + self.interval_s, frames_mark=self._aligner.frames)

    def _new_window(self, now: float, due_s: float, *, frames_mark: int) -> None:
        self._since_s, self._due_s, self._frames_mark = now, due_s, frames_mark
        self._skipped = {"frames": 0, "text": 0, "sensor": 0}
