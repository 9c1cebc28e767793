"""The hand-over policy of the ingest process: fast frames wait for a batch or a linger, slow ones go at once,
and the listener sleeps with a timeout exactly while a frame may be waiting."""

from __future__ import annotations

from edge_sdk.index.hand_over import HandOverPolicy


def test_a_frame_after_a_pause_is_not_fast_and_the_next_one_within_the_gap_is() -> None:
    policy = HandOverPolicy(batch_min=8, linger_s=0.02, fast_gap_s=0.01)
    assert policy.queued(100.0) is False  # the first frame
    assert policy.queued(100.005) is True
    assert policy.queued(100.020) is False  # 15 ms later: a camera's pace


def test_what_waits_is_due_at_the_batch_size_at_the_linger_or_when_flushing() -> None:
    policy = HandOverPolicy(batch_min=4, linger_s=0.02, fast_gap_s=0.01)
    assert not policy.due(0, 100.0, 100.5)
    assert not policy.due(3, 100.0, 100.019)
    assert policy.due(4, 100.0, 100.001)
    assert policy.due(1, 100.0, 100.02)
    policy.flush = True
    assert policy.due(1, 100.0, 100.0)


def test_the_listener_sleeps_until_the_oldest_frames_linger_ends_or_for_ever_when_nothing_can_wait() -> None:
    policy = HandOverPolicy(batch_min=8, linger_s=0.02, fast_gap_s=0.01)
    assert policy.timeout_ms(0, 0.0, 100.0) is None  # no frame yet: the next one goes at once
    policy.queued(100.0)
    assert policy.timeout_ms(2, 100.0, 100.005) == 15
    assert policy.timeout_ms(2, 100.0, 100.03) == 0  # overdue: look now
    # nothing waits, but a frame within the gap could be told to wait: a timed sleep until the gap closes
    assert policy.timeout_ms(0, 100.0, 100.004) == 6
    assert policy.timeout_ms(0, 100.0, 100.011) is None
