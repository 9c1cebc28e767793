from __future__ import annotations

from collections.abc import Iterator

import pytest

from firmware_bridge.tools.firmware import HostTools, build_host_tools
from firmware_bridge.tools.simulator import HostSimulator


@pytest.fixture(scope="session")
def host_tools() -> HostTools:
    return build_host_tools()


@pytest.fixture
def sim(host_tools: HostTools) -> Iterator[HostSimulator]:
    with HostSimulator(distance_cm=42.3, sensor_period_ms=20) as simulator:
        yield simulator
