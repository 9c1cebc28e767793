"""List serial ports with their USB VID:PID and stable /dev/serial/by-id names."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.link.transport import require_serial

__all__ = ["PortInfo", "list_ports"]

BY_ID_DIR = Path("/dev/serial/by-id")


@dataclass(frozen=True)
class PortInfo:
    device: str
    vid_pid: str  # "2341:0043" or "" for ports without USB ids
    description: str
    by_id: tuple[str, ...]  # stable names to prefer in configs


def _by_id_names() -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    if BY_ID_DIR.is_dir():
        for link in sorted(BY_ID_DIR.iterdir()):
            names.setdefault(os.path.realpath(link), []).append(str(link))
    return names


def list_ports() -> list[PortInfo]:
    """Serial ports the OS knows, sorted by device name."""
    require_serial()  # a clear error if pyserial is missing
    list_ports_mod = importlib.import_module("serial.tools.list_ports")
    by_id = _by_id_names()
    found = []
    for port in list_ports_mod.comports():
        vid_pid = (
            f"{port.vid:04x}:{port.pid:04x}"
            if port.vid is not None and port.pid is not None
            else ""
        )
        found.append(
            PortInfo(
                port.device,
                vid_pid,
                port.description or "",
                tuple(by_id.get(os.path.realpath(port.device), ())),
            )
        )
    return sorted(found, key=lambda p: p.device)
