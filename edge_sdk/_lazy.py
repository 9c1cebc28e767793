"""Lazy imports of optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from edge_sdk.distribution import DISTRIBUTION
from edge_sdk.errors import MissingDependencyError

__all__ = ["lazy_exports", "missing_dependency", "require"]

# module -> (pip distribution, extra of edge-fusion-sdk that brings it)
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
    "keras": ("tensorflow", "host"),
    "pandas": ("pandas", "host"),
    "matplotlib": ("matplotlib", "host"),
    "cryptography.exceptions": ("cryptography", "update"),
    "cryptography.hazmat.primitives.serialization": ("cryptography", "update"),
    "cryptography.hazmat.primitives.asymmetric.ed25519": ("cryptography", "update"),
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying what to install.

    ``purpose`` completes the sentence "... is needed for <purpose>".
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise _missing(module, purpose, exc) from exc


def missing_dependency(exc: ImportError, purpose: str) -> MissingDependencyError | None:
    """The :func:`require` error for an ImportError of a known optional module (``keras``,
    ``tensorflow``, ``serial``...) raised deep inside a command; None for any other module."""
    name = exc.name or ""
    known = next((module for module in (name, name.split(".")[0]) if module in _EXTRAS), None)
    return None if known is None else _missing(known, purpose, exc)


def _missing(module: str, purpose: str, exc: ImportError) -> MissingDependencyError:
    dist, extra = _EXTRAS.get(module, (module.split(".")[0], "device"))
    return MissingDependencyError(
        f"{dist} is needed for {purpose} but cannot be imported ({exc}). "
        f"Install it with: pip install '{DISTRIBUTION}[{extra}]'"
    )


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose names load on first use (PEP 562).

    ``exports`` maps each public name to the module that defines it; a loaded name is cached in the
    package, so the next access is a plain attribute read.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        namespace = vars(sys.modules[package])
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
