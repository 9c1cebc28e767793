"""Lazy imports of optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from edge_sdk.errors import MissingDependencyError

__all__ = ["require"]

# module -> (pip distribution, extra of edge-sdk that brings it)
_EXTRAS: dict[str, tuple[str, str]] = {
    "cv2": ("opencv-python-headless", "device"),
    "paho.mqtt.client": ("paho-mqtt", "device"),
    "paho.mqtt": ("paho-mqtt", "device"),
    "serial": ("pyserial", "device"),
    "yaml": ("pyyaml", "device"),
    "amqtt": ("amqtt", "broker"),
    "amqtt.broker": ("amqtt", "broker"),
    "ai_edge_litert.interpreter": ("ai-edge-litert", "device"),
    "tensorflow": ("tensorflow", "host"),
    "pandas": ("pandas", "host"),
    "matplotlib": ("matplotlib", "host"),
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying what to install.

    ``purpose`` completes the sentence "... is needed for <purpose>".
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist, extra = _EXTRAS.get(module, (module.split(".")[0], "device"))
        raise MissingDependencyError(
            f"{dist} is needed for {purpose} but cannot be imported ({exc}). "
            f"Install it with: pip install 'edge-sdk[{extra}]'"
        ) from exc
