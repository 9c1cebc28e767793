"""The states of a BridgeLink, in its own module so the link and its receiver share them.

CLOSED → CONNECTING → CONNECTED ⇄ RECONNECTING → CLOSED (after close()).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["LinkState"]


class LinkState(str, Enum):
    CLOSED = "closed"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
