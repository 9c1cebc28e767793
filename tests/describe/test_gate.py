"""Which frames the describe gate lets through: the first, every_s of frame time, a change, a new text."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.describe import DescribeConfig, DescribeGate
from edge_sdk.errors import ConfigError
from edge_sdk.pipeline.align import AlignedInputs
from edge_sdk.sources.frame import Frame


def _inputs(t_s: float, level: int = 0, text: str | None = None, text_ts: float | None = None) -> AlignedInputs:
    pixels = np.full((48, 64, 3), level, np.uint8)
    frame = Frame(pixels, "BGR", t_s, int(t_s * 10), "test")
    return AlignedInputs(frame, text, text_ts, None, None, None)


def test_every_s_lets_one_frame_through_per_interval_of_frame_time() -> None:
    gate = DescribeGate(DescribeConfig(every_s=0.5), on_text=False)
    passed = [t / 10 for t in range(20) if gate(_inputs(t / 10))]
    assert passed == [0.0, 0.5, 1.0, 1.5]
    assert gate.stats() == {"due_first": 1, "due_every_s": 3, "due_change": 0, "due_text": 0, "passed_over": 16}


def test_on_change_describes_a_changed_picture_at_once_and_min_interval_bounds_it() -> None:
    gate = DescribeGate(DescribeConfig(every_s=0, on_change=0.1, min_interval_s=0.25), on_text=False)
    levels = [0, 0, 0, 200, 200, 0, 0, 0, 0, 0]  # a change at 0.3 s, back at 0.5 s (too soon), held after
    passed = [t / 10 for t, level in enumerate(levels) if gate(_inputs(t / 10, level))]
    assert passed == [0.0, 0.3, 0.6]  # 0.5 s is 0.2 s after the last: held until 0.6 s, still changed
    assert gate.counts["due_change"] == 2


def test_a_new_text_or_a_new_stamp_of_the_same_text_is_translated_once() -> None:
    gate = DescribeGate(DescribeConfig(every_s=0), on_text=True)
    assert gate(_inputs(0.0, text="go to the red circle", text_ts=0.0))
    assert not gate(_inputs(0.1, text="go to the red circle", text_ts=0.0))
    assert gate(_inputs(0.2, text="find the blue square", text_ts=0.15))
    assert gate(_inputs(0.3, text="find the blue square", text_ts=0.25))  # sent again: asked again
    assert not gate(_inputs(0.4, text="find the blue square", text_ts=0.25))
    assert gate.counts == {"due_first": 1, "due_every_s": 0, "due_change": 0, "due_text": 2, "passed_over": 2}


def test_bad_describe_options_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"describe.beam_size: expected 1 or more, or null. Got: 0"):
        DescribeConfig(beam_size=0)
    with pytest.raises(ConfigError, match=r"describe.topic: expected a topic below the device"):
        DescribeConfig(topic="caption/#")
