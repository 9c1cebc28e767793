"""Open a serial port from a pyserial URL, with an exclusive lock, translating pyserial's errors.

Accepted: a device path (``/dev/ttyACM0``, ``/dev/serial/by-id/usb-Arduino...``), ``serial://``
followed by a path, and every pyserial URL handler (``loop://``, ``socket://host:port``,
``rfc2217://host:port``). pyserial is imported lazily so ``import firmware_bridge`` stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from firmware_bridge.errors import LinkError, MissingDependencyError, PortBusyError

__all__ = ["normalize_url", "open_port", "require_serial"]


def require_serial() -> ModuleType:
    """The ``serial`` module, or :class:`MissingDependencyError` naming what to install."""
    try:
        return importlib.import_module("serial")
    except ImportError as exc:
        raise MissingDependencyError(
            f"pyserial is needed for the firmware bridge but cannot be imported ({exc}). "
            "Install it with: pip install 'edge-fusion-sdk[device]' (or pip install pyserial)"
        ) from exc


def normalize_url(url: str) -> str:
    """``serial:///dev/ttyACM0`` → ``/dev/ttyACM0``; other URLs pass through."""
    if not url:
        raise LinkError(
            "serial URL must not be empty. Expected a device path or a pyserial URL like loop://"
        )
    if url.startswith("serial://"):
        return url[len("serial://") :]
    return url


def open_port(url: str, *, baudrate: int, timeout_s: float, exclusive: bool) -> Any:
    """Open ``url`` and return the pyserial object; raises :class:`PortBusyError` or :class:`LinkError`."""
    serial = require_serial()
    target = normalize_url(url)
    is_device = "://" not in target
    try:
        port = serial.serial_for_url(
            target,
            baudrate=baudrate,
            timeout=timeout_s,
            write_timeout=1.0,
            # The lock (flock) only exists for real device nodes; URL handlers have nothing to lock.
            exclusive=True if (exclusive and is_device) else None,
            do_not_open=True,
        )
        port.open()
    except serial.SerialException as exc:
        text = str(exc)
        if "exclusively lock" in text or "Resource temporarily unavailable" in text:
            raise PortBusyError(
                f"{url} is in use by another process (exclusive lock held): {text}"
            ) from exc
        raise LinkError(f"cannot open {url}: {text}") from exc
    except (OSError, ValueError) as exc:
        raise LinkError(f"cannot open {url}: {exc}") from exc
    if is_device:
        # Bytes the kernel buffered before we opened are stale (old readings): drop them.
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            port.close()
            raise LinkError(f"cannot flush {url}: {exc}") from exc
    return port
