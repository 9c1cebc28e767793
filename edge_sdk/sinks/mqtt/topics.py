"""The topic layout of one device (DESIGN.md section 4), in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Topics"]

_COMMAND_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Topics:
    """Topics under ``<prefix>/<device>/``.

    >>> Topics("edge_sdk", "pi-kitchen").cmd("prompt")
    'edge_sdk/pi-kitchen/cmd/prompt'
    """

    prefix: str
    device_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def available(self) -> str:
        """``online``, ``offline`` (last will) or ``stopped``; retained, QoS 1."""
        return f"{self.base}/available"

    @property
    def result(self) -> str:
        """The latest result, retained."""
        return f"{self.base}/result"

    @property
    def events(self) -> str:
        """Every result (and change event), QoS 1, not retained: the at-least-once stream."""
        return f"{self.base}/events"

    @property
    def stats(self) -> str:
        """Periodic statistics, QoS 0."""
        return f"{self.base}/stats"

    @property
    def commands(self) -> str:
        """The filter the device subscribes to for its commands."""
        return f"{self.base}/cmd/+"

    def cmd(self, name: str) -> str:
        if not _COMMAND_NAME.match(name):
            raise ValueError(f"command name must be 1-64 letters, digits, '_' or '-'. Got: {name!r}")
        return f"{self.base}/cmd/{name}"

    def command_name(self, topic: str) -> str | None:
        """The command name of a topic under ``cmd/``, or None when the topic is not a command."""
        head = f"{self.base}/cmd/"
        if not topic.startswith(head):
            return None
        name = topic[len(head):]
        return name if _COMMAND_NAME.match(name) else None

    @staticmethod
    def valid_command_name(name: str) -> bool:
        return bool(_COMMAND_NAME.match(name))
