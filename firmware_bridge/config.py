"""Options of the bridge's components, as frozen dataclasses (built from YAML by the runtime).

Each component takes only its own config: :class:`BridgeConfig` for a link, :class:`LineModeConfig`
for a line-mode reader, :class:`ActionsConfig` (with its :class:`ActionRule` list) for actions.
Values are checked at construction so a bad file fails at start-up, not on the robot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from firmware_bridge.errors import BridgeConfigError

__all__ = ["ActionRule", "ActionsConfig", "BridgeConfig", "LineModeConfig"]


def _positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise BridgeConfigError(
                f"{owner}.{name} must be a number > 0. Got: {value!r}"
            )


def _non_negative_int(owner: str, **values: int) -> None:
    for name, value in values.items():
        if not (isinstance(value, int) and value >= 0):
            raise BridgeConfigError(
                f"{owner}.{name} must be a whole number >= 0. Got: {value!r}"
            )


@dataclass(frozen=True)
class BridgeConfig:
    """How a :class:`~firmware_bridge.BridgeLink` talks to its device."""

    baudrate: int = field(
        default=115200, metadata={"help": "line rate; ignored by ptys and socket://"}
    )
    handshake_timeout_s: float = field(
        default=1.0, metadata={"help": "wait for the device's HELLO, per attempt"}
    )
    handshake_attempts: int = field(
        default=3,
        metadata={
            "help": "HELLO attempts; an Uno reboots for ~1.5 s when the port opens"
        },
    )
    heartbeat_interval_s: float = field(
        default=0.25, metadata={"help": "host HEARTBEAT period"}
    )
    link_timeout_s: float = field(
        default=1.0, metadata={"help": "no frame from the device this long: link lost"}
    )
    command_timeout_s: float = field(
        default=0.25, metadata={"help": "wait for ACK, per attempt"}
    )
    command_retries: int = field(
        default=3, metadata={"help": "resends after the first attempt"}
    )
    reconnect: bool = field(
        default=True, metadata={"help": "reopen the port by itself after a loss"}
    )
    reconnect_interval_s: float = field(
        default=0.1, metadata={"help": "pause between reopen attempts"}
    )
    exclusive: bool = field(
        default=True, metadata={"help": "lock the port against other processes"}
    )
    clock_window_s: float = field(
        default=30.0, metadata={"help": "history used to map the MCU clock"}
    )
    callback_queue: int = field(
        default=256, metadata={"help": "readings waiting for callbacks; oldest dropped"}
    )

    def __post_init__(self) -> None:
        _positive(
            "BridgeConfig",
            baudrate=self.baudrate,
            handshake_timeout_s=self.handshake_timeout_s,
            heartbeat_interval_s=self.heartbeat_interval_s,
            link_timeout_s=self.link_timeout_s,
            command_timeout_s=self.command_timeout_s,
            reconnect_interval_s=self.reconnect_interval_s,
            clock_window_s=self.clock_window_s,
            handshake_attempts=self.handshake_attempts,
            callback_queue=self.callback_queue,
        )
        _non_negative_int("BridgeConfig", command_retries=self.command_retries)
        if self.link_timeout_s <= self.heartbeat_interval_s:
            raise BridgeConfigError(
                "BridgeConfig.link_timeout_s must be longer than heartbeat_interval_s. "
                f"Got: link_timeout_s={self.link_timeout_s}, heartbeat_interval_s={self.heartbeat_interval_s}"
            )


@dataclass(frozen=True)
class LineModeConfig:
    """A sketch that only ``Serial.println``\\ s: one reading per line."""

    format: Literal["auto", "kv", "csv", "json"] = field(
        default="auto",
        metadata={
            "help": "kv: a=1 b=2; csv: header line then rows; json: one object a line"
        },
    )
    baudrate: int = field(default=115200, metadata={"help": "line rate"})
    time_key: str = field(
        default="",
        metadata={"help": "key holding the MCU time in ms, if the sketch sends one"},
    )
    max_line_bytes: int = field(
        default=1024, metadata={"help": "longer lines are dropped and counted"}
    )
    reconnect_interval_s: float = field(
        default=0.5, metadata={"help": "pause between reopen attempts"}
    )

    def __post_init__(self) -> None:
        if self.format not in ("auto", "kv", "csv", "json"):
            raise BridgeConfigError(
                f"LineModeConfig.format must be one of auto, kv, csv, json. Got: {self.format!r}"
            )
        _positive(
            "LineModeConfig",
            baudrate=self.baudrate,
            max_line_bytes=self.max_line_bytes,
            reconnect_interval_s=self.reconnect_interval_s,
        )


@dataclass(frozen=True)
class ActionRule:
    """When ``label`` wins with at least ``min_confidence``, set each actuator in ``commands``."""

    label: str
    commands: Mapping[str, int]
    min_confidence: float = 0.8

    def __post_init__(self) -> None:
        if not self.label:
            raise BridgeConfigError("ActionRule.label must not be empty")
        if not self.commands:
            raise BridgeConfigError(
                f"ActionRule for {self.label!r} must set at least one actuator. Got: {{}}"
            )
        if not 0.0 <= self.min_confidence <= 1.0:
            raise BridgeConfigError(
                f"ActionRule.min_confidence must be within [0, 1]. Got: {self.min_confidence!r} for {self.label!r}"
            )
        object.__setattr__(self, "commands", dict(self.commands))


def _default_safe() -> dict[str, int]:
    return {"motor_left": 0, "motor_right": 0}


@dataclass(frozen=True)
class ActionsConfig:
    """Results to commands, with debounce, rate limit and a safe command."""

    rules: tuple[ActionRule, ...] = ()
    safe_command: Mapping[str, int] = field(
        default_factory=_default_safe,
        metadata={"help": "sent when results go stale or the link comes back"},
    )
    stale_after_s: float = field(
        default=0.5, metadata={"help": "no result this long: send the safe command"}
    )
    debounce_results: int = field(
        default=2, metadata={"help": "a new action must win this many results in a row"}
    )
    min_interval_s: float = field(
        default=0.1, metadata={"help": "at most one command change per interval"}
    )
    on_no_match: Literal["safe", "hold"] = field(
        default="safe",
        metadata={
            "help": "a result no rule accepts: stop (safe) or keep the last action (hold)"
        },
    )

    def __post_init__(self) -> None:
        _positive("ActionsConfig", stale_after_s=self.stale_after_s)
        if not (
            isinstance(self.min_interval_s, (int, float)) and self.min_interval_s >= 0
        ):
            raise BridgeConfigError(
                f"ActionsConfig.min_interval_s must be >= 0. Got: {self.min_interval_s!r}"
            )
        if not (isinstance(self.debounce_results, int) and self.debounce_results >= 1):
            raise BridgeConfigError(
                f"ActionsConfig.debounce_results must be >= 1. Got: {self.debounce_results!r}"
            )
        if not self.safe_command:
            raise BridgeConfigError(
                "ActionsConfig.safe_command must set at least one actuator. Got: {}"
            )
        if self.on_no_match not in ("safe", "hold"):
            raise BridgeConfigError(
                f"ActionsConfig.on_no_match must be 'safe' or 'hold'. Got: {self.on_no_match!r}"
            )
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "safe_command", dict(self.safe_command))
