"""``edge-sdk cameras``: what cameras there are and the ``camera.source`` that opens each."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["format_cameras", "register"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``cameras`` to the ``edge-sdk`` command line."""
    cameras = subparsers.add_parser(
        "cameras", help="list the cameras: V4L2 capture devices (names, formats) and Picamera2's",
        description="V4L2 capture devices from /sys/class/video4linux with their pixel formats, and the "
                    "Picamera2 cameras when picamera2 imports; each with the camera.source that opens it")
    cameras.add_argument("--json", action="store_true", help="print them as one JSON object")
    cameras.set_defaults(func=_cmd_cameras)
    return cameras


def _cmd_cameras(args: argparse.Namespace) -> int:
    from edge_sdk.sources.devices import SYSFS_ROOT

    listing = collect()
    print(json.dumps(listing, indent=2) if args.json else format_cameras(listing, SYSFS_ROOT))
    return 0


def collect(sysfs_root: str | Path | None = None, dev_root: str | Path | None = None) -> dict[str, Any]:
    """``{"v4l2": [...], "picamera2": [...] | None, "picamera2_error": str | None}``."""
    from edge_sdk.errors import MissingDependencyError, SourceError
    from edge_sdk.sources.devices import DEV_ROOT, SYSFS_ROOT, list_picamera2_cameras, list_v4l2_devices

    devices = list_v4l2_devices(sysfs_root or SYSFS_ROOT, dev_root or DEV_ROOT)
    picamera2: list[dict[str, Any]] | None
    try:
        picamera2, error = list_picamera2_cameras(), None
    except (MissingDependencyError, SourceError) as exc:
        picamera2, error = None, str(exc)
    return {"v4l2": [d.as_dict() for d in devices], "picamera2": picamera2, "picamera2_error": error}


def format_cameras(listing: dict[str, Any], sysfs_root: str | Path) -> str:
    lines = []
    if listing["v4l2"]:
        lines.append("V4L2 capture devices (camera.source: the path, its index or camera://N):")
        for device in listing["v4l2"]:
            about = ", ".join(part for part in (device["driver"], device["bus_info"]) if part)
            lines.append(f"  {device['path']}  {device['spec']}  {device['name'] or '?'}"
                         + (f" ({about})" if about else ""))
            lines.extend(f"      also: {link}" for link in device["links"])
            if device["error"]:
                lines.append(f"      cannot ask it: {device['error']}")
            elif device["formats"]:
                lines.append("      formats: " + ", ".join(f"{f['fourcc']} ({f['description']})"
                                                          for f in device["formats"]))
            if device["note"]:
                lines.append(f"      note: {device['note']}")
    else:
        why = "none of its devices captures video" if Path(sysfs_root).is_dir() else "it does not exist"
        lines.append(f"no V4L2 capture devices in {sysfs_root} ({why})")
    if listing["picamera2"]:
        lines.append("Picamera2 cameras (camera.source: picamera2://N):")
        for number, info in enumerate(listing["picamera2"]):
            where = info.get("Id") or info.get("Location")
            lines.append(f"  picamera2://{info.get('Num', number)}  {info.get('Model', '?')}"
                         + (f" ({where})" if where else ""))
    elif listing["picamera2"] is not None:
        lines.append("Picamera2: no cameras")
    else:
        lines.append(f"Picamera2: not listed: {listing['picamera2_error']}")
    return "\n".join(lines)
