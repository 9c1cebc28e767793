"""SIGKILL a real device at every step of an update and restart it: it always comes back serving a
working, signed model, the newest committed one or the one before."""

from __future__ import annotations

from pathlib import Path

import pytest
from powercut import KILL_POINTS, PowerCutHarness
from releases import Keys

from edge_sdk.testing import MosquittoBroker

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_a_power_cut_at_every_step_of_an_update_never_bricks_the_device(tmp_path: Path, keys: Keys,
                                                                         broker: MosquittoBroker) -> None:
    harness = PowerCutHarness(tmp_path, keys, broker)
    try:
        results = [harness.cycle(point) for point in KILL_POINTS]
        results.append(harness.cycle("downloading"))  # the cut download again: it resumes, then a cut at 2 chunks more
    finally:
        harness.close()
    bricked = [r for r in results if r.after is None]
    assert not bricked, bricked
    by_point = {r.point: r for r in results}
    assert by_point["document_verified"].after == by_point["document_verified"].before  # not installed yet
    assert by_point["committed"].after == by_point["committed"].version
    assert by_point["swapped"].after in (by_point["swapped"].before, by_point["swapped"].version)
