"""ActionController with BridgeLink and the simulator: what the motors actually do."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from firmware_bridge.config import ActionRule, ActionsConfig, BridgeConfig
from firmware_bridge.errors import BridgeConfigError
from firmware_bridge.link.actions import SAFE, ActionController
from firmware_bridge.link.bridge import BridgeLink
from firmware_bridge.tools.simulator import HostSimulator

RULES = (
    ActionRule("left", {"motor_left": -300, "motor_right": 300}, min_confidence=0.8),
    ActionRule("center", {"motor_left": 500, "motor_right": 500}, min_confidence=0.8),
)


@pytest.fixture
def link(sim: HostSimulator) -> Iterator[BridgeLink]:
    with BridgeLink.open(sim.port, BridgeConfig(link_timeout_s=0.5)) as bridge_link:
        yield bridge_link


def feed(
    controller: ActionController,
    label: str,
    confidence: float,
    n: int,
    period_s: float = 0.02,
) -> None:
    for _ in range(n):
        controller.on_result(label, confidence, time.time())
        time.sleep(period_s)


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Return as soon as ``condition()`` holds; fail at the deadline. The controller's counters
    change on its worker thread, which signals nothing, so this polls them."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout_s} s"
        time.sleep(0.005)


def test_confident_result_turns_and_stale_results_stop_the_robot(
    sim: HostSimulator, link: BridgeLink
) -> None:
    config = ActionsConfig(rules=RULES, stale_after_s=0.3, debounce_results=2)
    with ActionController(link, config) as controller:
        feed(controller, "left", 0.9, 5)
        sim.wait_for_actuator("motor_right", 300, timeout_s=1.0)
        assert sim.actuator_state()["motor_left"] == -300
        results_stop = time.monotonic()
        event = sim.wait_for_actuator(
            "motor_right", 0, timeout_s=1.5, since_s=results_stop
        )
        assert 0.25 <= event.time_s - results_stop < 0.6
        # The ACK, and so the controller's count, follows the firmware's action.
        wait_for(lambda: controller.stats().safe_stops >= 1 and controller.stats().current_action == SAFE)
        stats = controller.stats()
    assert stats.safe_stops >= 1 and stats.current_action == SAFE
    assert stats.last_safe_stop_ms is not None and stats.last_safe_stop_ms < 100


def test_low_confidence_and_single_flickers_do_not_drive(
    sim: HostSimulator, link: BridgeLink
) -> None:
    config = ActionsConfig(rules=RULES, stale_after_s=1.0, debounce_results=3)
    with ActionController(link, config) as controller:
        feed(controller, "left", 0.5, 5)  # below min_confidence: safe
        for _ in range(5):  # never 3 in a row
            feed(controller, "center", 0.95, 2)
            feed(controller, "left", 0.95, 1)
        # The only decision was SAFE (5 low-confidence results): wait for the worker to act on it.
        wait_for(lambda: controller.stats().current_action == SAFE)
        assert controller.stats().results == 20
        assert all(e.value == 0 for e in sim.actuator_events())  # nothing ever drove


def test_changes_are_rate_limited(sim: HostSimulator, link: BridgeLink) -> None:
    config = ActionsConfig(
        rules=RULES, stale_after_s=5.0, debounce_results=1, min_interval_s=2.0
    )
    with ActionController(link, config) as controller:
        feed(controller, "left", 0.9, 3)
        left = sim.wait_for_actuator("motor_left", -300, timeout_s=5.0)
        feed(controller, "center", 0.9, 5)  # 0.1 s later: inside the interval
        wait_for(lambda: controller.stats().rate_limited > 0)
        assert sim.actuator_state()["motor_left"] == -300
        deadline = time.monotonic() + 10.0
        while sim.actuator_state()["motor_left"] != 500:  # keep the results fresh until it turns
            assert time.monotonic() < deadline, "the controller never drove center"
            feed(controller, "center", 0.9, 1)
        center = sim.wait_for_actuator("motor_left", 500, timeout_s=1.0)
    # The interval runs from the ACK of "left", which follows its APPLY line.
    assert center.time_s - left.time_s >= 2.0 - 0.05


def test_results_already_old_on_arrival_are_ignored(
    sim: HostSimulator, link: BridgeLink
) -> None:
    config = ActionsConfig(rules=RULES, stale_after_s=0.3, debounce_results=1)
    with ActionController(link, config) as controller:
        for _ in range(5):
            controller.on_result("center", 0.99, time.time() - 1.0)
        assert controller.stats().results_too_old == 5  # counted by on_result itself
    assert sim.actuator_state().get("motor_left", 0) == 0


def test_after_a_replug_the_safe_command_comes_first(
    sim: HostSimulator, link: BridgeLink
) -> None:
    config = ActionsConfig(rules=RULES, stale_after_s=5.0, debounce_results=1)
    with ActionController(link, config) as controller:
        feed(controller, "center", 0.9, 3)
        sim.wait_for_actuator("motor_left", 500, timeout_s=1.0)
        safe_before = controller.stats().safe_stops
        replugged = time.monotonic()
        sim.replug()
        assert link.wait_connected(5.0)
        wait_for(lambda: controller.stats().safe_stops > safe_before)  # its safe command was ACKed
        sim.wait_for_actuator("motor_right", 0, timeout_s=2.0, since_s=replugged)
        events = [e for e in sim.actuator_events() if e.time_s >= replugged]
        # reboot stop (firmware) then the controller's safe command; no driving on the old answer
        assert all(e.value == 0 for e in events)
        assert controller.stats().safe_stops >= 1


def test_close_sends_the_safe_command(sim: HostSimulator, link: BridgeLink) -> None:
    controller = ActionController(
        link, ActionsConfig(rules=RULES, stale_after_s=5.0, debounce_results=1)
    )
    feed(controller, "center", 0.9, 3)
    driving = sim.wait_for_actuator("motor_left", 500, timeout_s=1.0)
    controller.close()
    controller.close()
    # close() returned on the ACK; the simulator's APPLY line may still be on its way to the test.
    stop = sim.wait_for_actuator("motor_left", 0, timeout_s=2.0, since_s=driving.time_s)
    assert stop.time_s >= driving.time_s


def test_rule_config_errors_name_the_field() -> None:
    with pytest.raises(
        BridgeConfigError,
        match=r"ActionRule.min_confidence: expected a number from 0 to 1\. Got: 1.5",
    ):
        ActionRule("left", {"motor_left": 1}, min_confidence=1.5)
    with pytest.raises(
        BridgeConfigError, match=r"ActionsConfig.stale_after_s: expected a positive number\. Got: 0"
    ):
        ActionsConfig(stale_after_s=0)
    with pytest.raises(
        BridgeConfigError, match=r"ActionRule for 'left' must set at least one actuator"
    ):
        ActionRule("left", {})
