"""Options of the bridge's components, as frozen dataclasses (built from YAML by the runtime).

Each component takes only its own config: :class:`BridgeConfig` for a link, :class:`LineModeConfig`
for a line-mode reader, :class:`ActionsConfig` (with its :class:`ActionRule` list) for actions.
Values are checked at construction so a bad file fails at start-up, not on the robot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from firmware_bridge.errors import BridgeConfigError

__all__ = ["ActionRule", "ActionsConfig", "BridgeConfig", "LineModeConfig"]


def _bounds(*, ge: float | None = None, gt: float | None = None, le: float | None = None) -> dict[str, float]:
    """Field metadata for a numeric range, in edge_sdk.configtools' vocabulary (ge, gt, le).

    firmware_bridge imports nothing from edge_sdk, so the check is its own, but a range is declared
    the same way in both packages and reads the same in an error.
    """
    return {key: value for key, value in (("ge", ge), ("gt", gt), ("le", le)) if value is not None}


def _check_bounds(instance: object) -> None:
    """Raise :class:`BridgeConfigError` (with ``field_name``) for the first field outside its range."""
    for f in fields(instance):  # type: ignore[arg-type]
        ge, gt, le = f.metadata.get("ge"), f.metadata.get("gt"), f.metadata.get("le")
        if ge is None and gt is None and le is None:
            continue
        value = getattr(instance, f.name)
        whole = type(f.default) is int  # an int field takes whole numbers only
        kinds = (int,) if whole else (int, float)
        in_range = (isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)
                    and (ge is None or value >= ge) and (gt is None or value > gt) and (le is None or value <= le))
        if not in_range:
            detail = f"expected {_range_text(ge, gt, le, whole)}. Got: {value!r}"
            raise BridgeConfigError(f"{type(instance).__name__}.{f.name}: {detail}", f.name, detail)


def _range_text(ge: float | None, gt: float | None, le: float | None, whole: bool) -> str:
    kind = "a whole number" if whole else "a number"
    if ge is not None and le is not None:
        return f"{kind} from {ge:g} to {le:g}"
    if gt == 0:
        return f"a positive {kind[2:]}"
    if gt is not None:
        return f"{kind} above {gt:g}"
    return f"{kind} of at least {ge:g}" if ge is not None else f"{kind} of at most {le:g}"


@dataclass(frozen=True)
class BridgeConfig:
    """How a :class:`~firmware_bridge.BridgeLink` talks to its device."""

    baudrate: int = field(
        default=115200, metadata={**_bounds(gt=0), "help": "line rate; ignored by ptys and socket://"}
    )
    handshake_timeout_s: float = field(
        default=1.0, metadata={**_bounds(gt=0), "help": "wait for the device's HELLO, per attempt"}
    )
    handshake_attempts: int = field(
        default=3,
        metadata={**_bounds(ge=1), 
            "help": "HELLO attempts; an Uno reboots for ~1.5 s when the port opens"
        },
    )
    heartbeat_interval_s: float = field(
        default=0.25, metadata={**_bounds(gt=0), "help": "host HEARTBEAT period"}
    )
    link_timeout_s: float = field(
        default=1.0, metadata={**_bounds(gt=0), "help": "no frame from the device this long: link lost"}
    )
    command_timeout_s: float = field(
        default=0.25, metadata={**_bounds(gt=0), "help": "wait for ACK, per attempt"}
    )
    command_retries: int = field(
        default=3, metadata={**_bounds(ge=0), "help": "resends after the first attempt"}
    )
    reconnect: bool = field(
        default=True, metadata={"help": "reopen the port by itself after a loss"}
    )
    reconnect_interval_s: float = field(
        default=0.1, metadata={**_bounds(gt=0), "help": "pause between reopen attempts"}
    )
    exclusive: bool = field(
        default=True, metadata={"help": "lock the port against other processes"}
    )
    clock_window_s: float = field(
        default=30.0, metadata={**_bounds(gt=0), "help": "history used to map the MCU clock"}
    )
    callback_queue: int = field(
        default=256, metadata={**_bounds(ge=1), "help": "readings waiting for callbacks; oldest dropped"}
    )

    def __post_init__(self) -> None:
        _check_bounds(self)
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
    baudrate: int = field(default=115200, metadata={**_bounds(gt=0), "help": "line rate"})
    time_key: str = field(
        default="",
        metadata={"help": "key holding the MCU time in ms, if the sketch sends one"},
    )
    max_line_bytes: int = field(
        default=1024, metadata={**_bounds(ge=1), "help": "longer lines are dropped and counted"}
    )
    reconnect_interval_s: float = field(
        default=0.5, metadata={**_bounds(gt=0), "help": "pause between reopen attempts"}
    )

    def __post_init__(self) -> None:
        if self.format not in ("auto", "kv", "csv", "json"):
            raise BridgeConfigError(
                f"LineModeConfig.format must be one of auto, kv, csv, json. Got: {self.format!r}"
            )
        _check_bounds(self)


@dataclass(frozen=True)
class ActionRule:
    """When ``label`` wins with at least ``min_confidence``, set each actuator in ``commands``."""

    label: str = field(metadata={"help": "the result label this rule answers"})
    commands: Mapping[str, int] = field(metadata={"help": "actuator name to value, e.g. {motor_left: -300}"})
    min_confidence: float = field(
        default=0.8, metadata={**_bounds(ge=0, le=1), "help": "the rule fires only at this confidence or more"}
    )

    def __post_init__(self) -> None:
        if not self.label:
            raise BridgeConfigError("ActionRule.label must not be empty")
        if not self.commands:
            raise BridgeConfigError(
                f"ActionRule for {self.label!r} must set at least one actuator. Got: {{}}"
            )
        _check_bounds(self)
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
        default=0.5, metadata={**_bounds(gt=0), "help": "no result this long: send the safe command"}
    )
    debounce_results: int = field(
        default=2, metadata={**_bounds(ge=1), "help": "a new action must win this many results in a row"}
    )
    min_interval_s: float = field(
        default=0.1, metadata={**_bounds(ge=0), "help": "at most one command change per interval"}
    )
    on_no_match: Literal["safe", "hold"] = field(
        default="safe",
        metadata={
            "help": "a result no rule accepts: stop (safe) or keep the last action (hold)"
        },
    )

    def __post_init__(self) -> None:
        _check_bounds(self)
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
