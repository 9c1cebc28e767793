"""The cameras this machine has: V4L2 capture devices, and Picamera2's when picamera2 imports.

V4L2 devices are found in sysfs (``/sys/class/video4linux/videoN/name``), then asked with the
``VIDIOC_QUERYCAP`` and ``VIDIOC_ENUM_FMT`` ioctls (``linux/videodev2.h``) what they are: only nodes
whose ``device_caps`` have ``V4L2_CAP_VIDEO_CAPTURE`` are cameras (a UVC webcam's second node is
metadata; codec and ISP nodes are memory-to-memory). Opening a node to ask does not claim it: V4L2
allows any number of opens, only streaming is exclusive. Standard library only (``fcntl``, ``struct``).
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import importlib
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sdk.errors import MissingDependencyError, SourceError

__all__ = [
    "V4L2_CAP_VIDEO_CAPTURE",
    "VIDIOC_ENUM_FMT",
    "VIDIOC_QUERYCAP",
    "Capability",
    "PixelFormat",
    "V4L2Device",
    "enum_formats",
    "list_picamera2_cameras",
    "list_v4l2_devices",
    "query_capability",
]

SYSFS_ROOT = Path("/sys/class/video4linux")
DEV_ROOT = Path("/dev")


# -- linux/videodev2.h ----------------------------------------------------------------------------
def _ioc(direction: int, kind: str, number: int, size: int) -> int:
    """``_IOC`` of asm-generic/ioctl.h (x86, ARM, RISC-V; not alpha, mips, powerpc, sparc)."""
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | number


_IOC_WRITE, _IOC_READ = 1, 2
# struct v4l2_capability: __u8 driver[16], card[32], bus_info[32]; __u32 version, capabilities,
# device_caps, reserved[3] (104 bytes)
_CAPABILITY = struct.Struct("=16s32s32sIII12x")
# struct v4l2_fmtdesc: __u32 index, type, flags; __u8 description[32]; __u32 pixelformat, mbus_code,
# reserved[3] (64 bytes)
_FMTDESC = struct.Struct("=III32sII12x")
VIDIOC_QUERYCAP = _ioc(_IOC_READ, "V", 0, _CAPABILITY.size)  # _IOR('V', 0, struct v4l2_capability)
VIDIOC_ENUM_FMT = _ioc(_IOC_READ | _IOC_WRITE, "V", 2, _FMTDESC.size)  # _IOWR('V', 2, struct v4l2_fmtdesc)
V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_DEVICE_CAPS = 0x80000000
V4L2_BUF_TYPE_VIDEO_CAPTURE = 1
V4L2_FMT_FLAG_COMPRESSED = 0x0001
_MAX_FORMATS = 256
# the CSI capture and ISP nodes of the Raspberry Pi: libcamera drives them; OpenCV gets raw data
_LIBCAMERA_DRIVERS = frozenset({"unicam", "rp1-cfe", "bcm2835-isp", "pispbe"})


@dataclass(frozen=True)
class Capability:
    driver: str
    card: str
    bus_info: str
    capabilities: int
    device_caps: int  # the node's own; ``capabilities`` are the whole device's

    @property
    def is_capture(self) -> bool:
        return bool(self.device_caps & V4L2_CAP_VIDEO_CAPTURE)


@dataclass(frozen=True)
class PixelFormat:
    fourcc: str  # "MJPG", "YUYV"
    description: str
    compressed: bool


@dataclass(frozen=True)
class V4L2Device:
    path: str  # /dev/videoN
    index: int  # N: camera://N
    name: str  # sysfs name
    driver: str = ""
    bus_info: str = ""
    formats: tuple[PixelFormat, ...] = ()
    links: tuple[str, ...] = ()  # stable names: /dev/v4l/by-id/..., /dev/v4l/by-path/...
    error: str | None = None  # it could not be asked (permissions, gone): listed, not known to be a camera
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "spec": f"camera://{self.index}", "name": self.name, "driver": self.driver,
                "bus_info": self.bus_info, "links": list(self.links), "error": self.error, "note": self.note,
                "formats": [{"fourcc": f.fourcc, "description": f.description, "compressed": f.compressed}
                            for f in self.formats]}


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def _open_node(path: str | Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except PermissionError:
        raise SourceError(f"{path}: permission denied; add the user to the video group "
                          "(sudo usermod -aG video $USER, then log in again)") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot open: {exc.strerror or exc}") from None


def query_capability(path: str | Path) -> Capability:
    """VIDIOC_QUERYCAP on ``path``; SourceError saying why for anything that is not a V4L2 device."""
    fd = _open_node(path)
    try:
        buffer = bytearray(_CAPABILITY.size)
        try:
            fcntl.ioctl(fd, VIDIOC_QUERYCAP, buffer, True)
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EINVAL):
                raise SourceError(f"{path}: not a V4L2 device (VIDIOC_QUERYCAP: {exc.strerror})") from None
            raise SourceError(f"{path}: VIDIOC_QUERYCAP failed: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    driver, card, bus_info, _version, capabilities, device_caps = _CAPABILITY.unpack(buffer)
    if not capabilities & V4L2_CAP_DEVICE_CAPS:  # kernels before 3.3: only the device's
        device_caps = capabilities
    return Capability(_text(driver), _text(card), _text(bus_info), capabilities, device_caps)


def enum_formats(path: str | Path) -> tuple[PixelFormat, ...]:
    """The capture pixel formats (VIDIOC_ENUM_FMT, index 0, 1, ... until EINVAL)."""
    fd = _open_node(path)
    formats = []
    try:
        for index in range(_MAX_FORMATS):
            buffer = bytearray(_FMTDESC.pack(index, V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, b"", 0, 0))
            try:
                fcntl.ioctl(fd, VIDIOC_ENUM_FMT, buffer, True)
            except OSError as exc:
                if exc.errno == errno.EINVAL:
                    break
                raise SourceError(f"{path}: VIDIOC_ENUM_FMT failed: {exc.strerror or exc}") from None
            _index, _type, flags, description, pixelformat, _mbus = _FMTDESC.unpack(buffer)
            fourcc = pixelformat.to_bytes(4, "little").decode("ascii", "replace").rstrip("\0 ")
            formats.append(PixelFormat(fourcc, _text(description), bool(flags & V4L2_FMT_FLAG_COMPRESSED)))
    finally:
        os.close(fd)
    return tuple(formats)


@dataclass
class _Probe:
    """The two ioctl steps, replaceable in tests (the machine running them may have no camera)."""

    capability: Callable[[str], Capability] = field(default=query_capability)
    formats: Callable[[str], tuple[PixelFormat, ...]] = field(default=enum_formats)


def list_v4l2_devices(sysfs_root: str | Path = SYSFS_ROOT, dev_root: str | Path = DEV_ROOT,
                      probe: _Probe | None = None) -> list[V4L2Device]:
    """The V4L2 capture devices, by number. Nodes that cannot be asked are listed with the reason."""
    probe = probe or _Probe()
    root, dev = Path(sysfs_root), Path(dev_root)
    if not root.is_dir():
        return []
    links = _stable_links(dev)
    devices = []
    for entry in sorted(root.iterdir(), key=lambda p: _number(p.name)):
        number = _number(entry.name)
        if number < 0:
            continue
        try:
            name = (entry / "name").read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            name = ""
        node = dev / entry.name
        base = V4L2Device(str(node), number, name, links=tuple(links.get(entry.name, ())))
        try:
            capability = probe.capability(str(node))
            if not capability.is_capture:
                continue
            formats = probe.formats(str(node))
        except SourceError as exc:
            devices.append(dataclasses.replace(base, error=str(exc)))
            continue
        note = ("part of the libcamera pipeline: OpenCV gets raw sensor data here; use picamera2://N"
                if capability.driver in _LIBCAMERA_DRIVERS else None)
        devices.append(dataclasses.replace(base, driver=capability.driver, bus_info=capability.bus_info, formats=formats,
                                note=note))
    return devices


def _number(name: str) -> int:
    match = re.fullmatch(r"video(\d+)", name)
    return int(match.group(1)) if match else -1


def _stable_links(dev: Path) -> dict[str, list[str]]:
    """``videoN`` -> the /dev/v4l/by-id and by-path symlinks naming it (they survive re-plugging)."""
    found: dict[str, list[str]] = {}
    for folder in ("by-id", "by-path"):
        try:
            entries = sorted((dev / "v4l" / folder).iterdir())
        except OSError:
            continue
        for link in entries:
            target = os.path.basename(os.path.realpath(link))
            found.setdefault(target, []).append(str(link))
    return found


def list_picamera2_cameras() -> list[dict[str, Any]]:
    """``Picamera2.global_camera_info()``: Model, Location, Rotation, Id per camera, in picamera2://N order.

    Raises MissingDependencyError when picamera2 does not import (saying why: absent, or a numpy it
    was not built for) and SourceError when libcamera cannot list its cameras.
    """
    try:
        module = importlib.import_module("picamera2")
    except Exception as exc:  # ImportError, or ValueError from a numpy it was not built for
        raise MissingDependencyError(
            f"picamera2 does not import ({type(exc).__name__}: {exc}); on Raspberry Pi OS: sudo apt install "
            "python3-picamera2, in a venv made with --system-site-packages") from exc
    try:
        return [dict(info) for info in module.Picamera2.global_camera_info()]
    except Exception as exc:  # libcamera's errors are RuntimeError and others: translate at the boundary
        raise SourceError(f"Picamera2 cannot list its cameras: {exc}") from exc
