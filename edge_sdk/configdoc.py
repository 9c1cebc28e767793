"""Generate docs/config-reference.md from the config dataclasses, so the reference cannot drift.

    python -m edge_sdk.configdoc > docs/config-reference.md
"""

from __future__ import annotations

import dataclasses
import sys
import typing

from edge_sdk import configtools

__all__ = ["render_reference", "render_tables"]


_ACTIONS_SUMMARY = (
    "Rules from results to actuator commands, sent over the bridge, e.g.: `actions: {rules: [{label: left, "
    "commands: {motor_left: -300, motor_right: 300}, min_confidence: 0.8}, {label: blocked, commands: "
    "{motor_left: 0, motor_right: 0}}], safe_command: {motor_left: 0, motor_right: 0}, stale_after_s: 0.5}`: a "
    "label at `min_confidence` or more, `debounce_results` times in a row, sets the actuators; no fresh result "
    "for `stale_after_s` sends the safe command."
)


def _sections() -> list[tuple[str, type, str]]:
    from edge_sdk.config import DeviceConfig, EmbeddedBrokerConfig, ModelConfig, SinkConfig
    from edge_sdk.describe.config import DescribeConfig
    from edge_sdk.index.config import IndexConfig
    from edge_sdk.pipeline.config import PipelineConfig
    from edge_sdk.sinks.mqtt.config import HomeAssistantConfig, MQTTConfig, OutboxConfig, TLSConfig
    from edge_sdk.sources.config import AlignConfig, CameraConfig, SensorConfig, TextConfig
    from edge_sdk.update.config import UpdateConfig
    from firmware_bridge.config import ActionRule, ActionsConfig, BridgeConfig

    return [
        ("(top level)", DeviceConfig, "The sections of a device config."),
        ("model", ModelConfig, "Which bundle to run and how."),
        ("camera", CameraConfig, "Where frames come from."),
        ("text", TextConfig, "Where the text command comes from."),
        ("sensor", SensorConfig, "Where sensor readings come from."),
        ("align", AlignConfig, "How text and sensor readings are matched to frames."),
        ("pipeline", PipelineConfig, "Rates, publishing policy and queue bounds."),
        ("mqtt", MQTTConfig, "The broker to publish to. Without this section an embedded broker starts."),
        ("mqtt.tls", TLSConfig, "TLS to the broker."),
        ("mqtt.homeassistant", HomeAssistantConfig, "Home Assistant MQTT discovery."),
        ("mqtt.outbox", OutboxConfig, "The durable outbox that keeps results until the broker has them."),
        ("embedded_broker", EmbeddedBrokerConfig, "The local broker started when there is no mqtt section."),
        ("output", SinkConfig, "Extra result sinks."),
        ("bridge", BridgeConfig, "The serial link to a microcontroller; also takes `url`."),
        ("actions", ActionsConfig, _ACTIONS_SUMMARY),
        ("actions.rules[]", ActionRule, "One rule."),
        ("index", IndexConfig, "The rolling index of embedded frames for text search (docs/retrieval-device.md)."),
        ("describe", DescribeConfig, ("When a generate bundle (captioner or translator) describes frames; captions "
                                      "on `<device>/caption`, translations on `<device>/translation` "
                                      "(docs/captioning.md).")),
        ("update", UpdateConfig, ("Signed over-the-air model updates announced on `<device>/cmd/model` "
                                  "(docs/updates.md): trusted keys, the model store, shadow run and health window.")),
    ]


def render_reference() -> str:
    lines = [
        "# Device config reference",
        "",
        "Generated from the config dataclasses by `python -m edge_sdk.configdoc`; do not edit by hand.",
        "Unknown keys are rejected with the valid ones listed; `${VAR}` and `${VAR:-default}` read the",
        "environment. Check a file, and the model, files and devices it names, with",
        "`edge-sdk validate-config --config device.yaml` (errors carry line numbers).",
        "",
    ]
    return "\n".join(lines + render_tables(_sections()))


def render_tables(sections: list[tuple[str, type, str]], level: str = "##") -> list[str]:
    """One markdown table per dataclass: key, type, default, meaning (the fields' ``help``)."""
    lines: list[str] = []
    for section, cls, summary in sections:
        lines += [f"{level} `{section}`", "", summary, "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for name, type_name, default, help_text in configtools.describe(cls):
            if dataclasses.is_dataclass(typing.get_type_hints(cls).get(name)):
                help_text = f"{help_text}; see `{name}` below" if help_text else f"see `{name}` below"
                default = "required section" if default == "required" else "section"
            lines.append(f"| `{name}` | {_escape(type_name)} | {_escape(default)} | {_escape(help_text)} |")
        lines.append("")
    return lines


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.stdout.write(render_reference())
