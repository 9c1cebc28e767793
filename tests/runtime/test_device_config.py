"""The device config is typed end to end: every section a dataclass, errors under the key path written."""

from __future__ import annotations

import pytest

from edge_sdk.config import BridgeSection, parse_config
from edge_sdk.errors import ConfigError
from firmware_bridge import ActionRule, ActionsConfig, BridgeConfig

_CAMERA = {"camera": {"source": "camera://0"}}


def test_bridge_and_actions_sections_are_typed() -> None:
    config = parse_config({**_CAMERA, "sensor": {"source": "bridge"},
                           "bridge": {"url": "loop://", "baudrate": 9600, "link_timeout_s": 2},
                           "actions": {"rules": [{"label": "left", "commands": {"motor_left": -300}}]}})
    assert config.bridge == BridgeSection(url="loop://", link=BridgeConfig(baudrate=9600, link_timeout_s=2.0))
    assert isinstance(config.actions, ActionsConfig)
    assert config.actions.rules == (ActionRule("left", {"motor_left": -300}),)


@pytest.mark.parametrize(("sections", "message"), [
    ({"bridge": {"url": "x", "baudrate": -1}}, r"^config: bridge\.baudrate: expected a positive whole number\. Got: -1$"),
    ({"bridge": {"url": "x", "handshake_attempts": 0}}, r"bridge\.handshake_attempts: expected a whole number of at least 1"),
    ({"bridge": {"url": "x", "baudrat": 1}}, r"bridge\.baudrat: unknown key\. Valid keys for bridge: baudrate, .*, url$"),
    ({"bridge": {"baudrate": 9600}}, r"bridge\.url: expected a serial URL such as /dev/ttyACM0 or loop://\. Got: None"),
    ({"bridge": {"url": "x"}, "actions": {"rules": [{"label": "a", "commands": {"m": 1}, "min_confidence": 3}]}},
     r"actions\.rules\[0\]\.min_confidence: expected a number from 0 to 1\. Got: 3\.0$"),
    ({"bridge": {"url": "x"}, "actions": {"min_interval_s": -1}}, r"actions\.min_interval_s: expected a number of at least 0"),
    ({"actions": {}}, r"actions: need a bridge section to send commands over"),
])
def test_bridge_and_actions_errors_name_the_key_path(sections: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({**_CAMERA, **sections})


def test_a_yaml_bridge_error_carries_its_line() -> None:
    text = "camera: {source: camera://0}\nbridge:\n  url: loop://\n  baudrate: 0\n"
    import yaml

    with pytest.raises(ConfigError, match=r"^device\.yaml:4: bridge\.baudrate: expected a positive whole number"):
        parse_config(yaml.safe_load(text), text, "device.yaml")
