"""Which frames get a description: on the worker, after alignment, before the model sees the frame.

A frame is due when none was described yet, when ``every_s`` of frame time passed since the last
one, when its picture changed by ``on_change`` (mean absolute change of a 32x32 grey copy), or, for a
translator, when a new text command arrived (a new text or a new timestamp of the same text). Never
two closer than ``min_interval_s``. Time is the frame's own (``Frame.timestamp_s``: the runtime clock,
or a file's timeline in ``every_frame`` playback), so a replay describes the same frames every time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge_sdk.describe.config import DescribeConfig
from edge_sdk.pipeline.change import picture_change, small_grey

if TYPE_CHECKING:
    from edge_sdk.pipeline.align import AlignedInputs

__all__ = ["DescribeGate"]

_SLACK_S = 1e-3  # frames of a 10 fps clip are 0.1 s apart give or take rounding


class DescribeGate:
    """``gate(inputs) -> bool``; counts why frames passed (``due_*``) or were passed over."""

    def __init__(self, config: DescribeConfig, *, on_text: bool) -> None:
        self.config, self.on_text = config, on_text
        self._last_s: float | None = None
        self._last_small: npt.NDArray[np.float32] | None = None
        self._last_text: tuple[str | None, float | None] | None = None
        self.counts = {"due_first": 0, "due_every_s": 0, "due_change": 0, "due_text": 0, "passed_over": 0}

    def __call__(self, inputs: AlignedInputs) -> bool:
        frame, config = inputs.frame, self.config
        at_s = frame.timestamp_s
        small = small_grey(frame.pixels, "the describe section's on_change test") if config.on_change > 0 else None
        reason = self._reason(at_s, small, (inputs.text, inputs.text_ts))
        if reason is None or (self._last_s is not None and reason != "due_first"
                              and at_s - self._last_s < config.min_interval_s - _SLACK_S):
            self.counts["passed_over"] += 1
            return False
        self.counts[reason] += 1
        self._last_s, self._last_small = at_s, small
        if self.on_text:
            self._last_text = (inputs.text, inputs.text_ts)
        return True

    def _reason(self, at_s: float, small: npt.NDArray[np.float32] | None,
                text: tuple[str | None, float | None]) -> str | None:
        config = self.config
        if self._last_s is None:
            return "due_first"
        if self.on_text and text[0] is not None and text != self._last_text:
            return "due_text"
        if config.every_s > 0 and at_s - self._last_s >= config.every_s - _SLACK_S:
            return "due_every_s"
        changed = (small is not None and self._last_small is not None
                   and picture_change(small, self._last_small) >= config.on_change)
        return "due_change" if changed else None

    def stats(self) -> dict[str, Any]:
        return dict(self.counts)
