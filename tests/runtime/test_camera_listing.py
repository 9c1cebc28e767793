"""``edge-sdk cameras`` on a machine without cameras: a fake sysfs tree, and the ioctls on files that
are not devices (a clear error) or through a stand-in ioctl that fills the kernel's structs."""

from __future__ import annotations

import errno
import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.errors import SourceError
from edge_sdk.sources import devices
from edge_sdk.sources.devices import Capability, PixelFormat, enum_formats, list_v4l2_devices, query_capability

UVC_CAPTURE = 0x04200001  # VIDEO_CAPTURE | STREAMING | EXT_PIX_FORMAT
UVC_METADATA = 0x04A00000  # META_CAPTURE | STREAMING | EXT_PIX_FORMAT
M2M = 0x04204000  # VIDEO_M2M_MPLANE
ALL = 0x84A04001  # the whole device: DEVICE_CAPS set, so device_caps is the node's own


def test_the_ioctl_numbers_and_struct_sizes_are_the_kernels() -> None:
    """From linux/videodev2.h, checked with a C compiler on x86_64 (the same on ARM)."""
    assert devices.VIDIOC_QUERYCAP == 0x80685600 and devices._CAPABILITY.size == 104
    assert devices.VIDIOC_ENUM_FMT == 0xC0405602 and devices._FMTDESC.size == 64


def test_a_file_that_is_not_a_device_gets_a_clear_error(tmp_path: Path) -> None:
    plain = tmp_path / "video0"
    plain.write_text("not a device")
    with pytest.raises(SourceError, match=r"video0: not a V4L2 device \(VIDIOC_QUERYCAP: Inappropriate ioctl"):
        query_capability(plain)
    with pytest.raises(SourceError, match=r"video0: VIDIOC_ENUM_FMT failed: Inappropriate ioctl"):
        enum_formats(plain)
    with pytest.raises(SourceError, match=r"missing: cannot open: No such file or directory"):
        query_capability(tmp_path / "missing")
    if os.path.exists("/dev/null"):
        with pytest.raises(SourceError, match=r"/dev/null: not a V4L2 device"):
            query_capability("/dev/null")


def _fake_ioctl(formats: list[tuple[str, str, int]]) -> Any:
    """Answers QUERYCAP and ENUM_FMT as a UVC webcam's driver would, into the caller's buffer."""
    def ioctl(fd: int, request: int, buffer: bytearray, mutate: bool = True) -> int:
        if request == devices.VIDIOC_QUERYCAP:
            struct.pack_into("=16s32s32sIII", buffer, 0, b"uvcvideo", b"HD USB Camera: HD USB Camera",
                             b"usb-0000:01:00.0-1.2", 0x060100, ALL, UVC_CAPTURE)
            return 0
        assert request == devices.VIDIOC_ENUM_FMT
        index, kind = struct.unpack_from("=II", buffer)
        assert kind == 1  # V4L2_BUF_TYPE_VIDEO_CAPTURE
        if index >= len(formats):
            raise OSError(errno.EINVAL, "Invalid argument")
        fourcc, description, flags = formats[index]
        struct.pack_into("=III32sI", buffer, 0, index, kind, flags, description.encode(),
                         int.from_bytes(fourcc.encode(), "little"))
        return 0
    return ioctl


def test_capability_and_formats_are_read_from_the_kernels_structs(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    node = tmp_path / "video0"
    node.write_bytes(b"")
    monkeypatch.setattr(devices.fcntl, "ioctl", _fake_ioctl([("MJPG", "Motion-JPEG", 1), ("YUYV", "YUYV 4:2:2", 0)]))
    capability = query_capability(node)
    assert capability == Capability("uvcvideo", "HD USB Camera: HD USB Camera", "usb-0000:01:00.0-1.2", ALL,
                                    UVC_CAPTURE)
    assert capability.is_capture
    assert enum_formats(node) == (PixelFormat("MJPG", "Motion-JPEG", True), PixelFormat("YUYV", "YUYV 4:2:2", False))


def _sysfs(tmp_path: Path, names: dict[str, str]) -> tuple[Path, Path]:
    sysfs, dev = tmp_path / "sys" / "class" / "video4linux", tmp_path / "dev"
    for node, name in names.items():
        (sysfs / node).mkdir(parents=True)
        (sysfs / node / "name").write_text(name + "\n")
    (dev / "v4l" / "by-id").mkdir(parents=True)
    (dev / "v4l" / "by-id" / "usb-HD_USB_Camera-video-index0").symlink_to("../../video0")
    return sysfs, dev


def test_only_capture_devices_are_listed_with_names_formats_and_stable_links(tmp_path: Path) -> None:
    sysfs, dev = _sysfs(tmp_path, {"video0": "HD USB Camera", "video1": "HD USB Camera", "video2": "Locked",
                                   "video10": "bcm2835-codec-decode", "v4l-subdev0": "imx708"})
    caps = {"video0": UVC_CAPTURE, "video1": UVC_METADATA, "video10": M2M}

    def capability(path: str) -> Capability:
        node = Path(path).name
        if node == "video2":
            raise SourceError(f"{path}: permission denied; add the user to the video group")
        return Capability("uvcvideo" if node != "video10" else "bcm2835-codec", "", "usb-1.2", ALL, caps[node])

    probe = devices._Probe(capability, lambda path: (PixelFormat("MJPG", "Motion-JPEG", True),))
    listed = list_v4l2_devices(sysfs, dev, probe)
    assert [(d.path, d.index, d.name) for d in listed] == [
        (str(dev / "video0"), 0, "HD USB Camera"), (str(dev / "video2"), 2, "Locked")]
    camera, locked = listed
    assert camera.formats == (PixelFormat("MJPG", "Motion-JPEG", True),) and camera.error is None
    assert camera.links == (str(dev / "v4l" / "by-id" / "usb-HD_USB_Camera-video-index0"),)
    assert locked.error is not None and "video group" in locked.error

    from edge_sdk.sources.cli import format_cameras

    text = format_cameras({"v4l2": [d.as_dict() for d in listed], "picamera2": [{"Model": "imx708", "Num": 0}],
                           "picamera2_error": None}, sysfs)
    assert f"  {dev}/video0  camera://0  HD USB Camera (uvcvideo, usb-1.2)" in text
    assert "      formats: MJPG (Motion-JPEG)" in text and "also: " in text
    assert "cannot ask it: " in text and "picamera2://0  imx708" in text


def test_nodes_that_are_not_devices_are_listed_with_why(tmp_path: Path) -> None:
    """The real ioctl path on the fake tree: the dev nodes are plain files."""
    sysfs, dev = _sysfs(tmp_path, {"video0": "HD USB Camera"})
    (dev / "video0").write_text("")
    (listed,) = list_v4l2_devices(sysfs, dev)
    assert listed.name == "HD USB Camera" and listed.error is not None and "not a V4L2 device" in listed.error
    assert list_v4l2_devices(tmp_path / "no-sysfs", dev) == []


def test_picamera2_cameras_are_listed_when_it_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    class Picamera2:
        @staticmethod
        def global_camera_info() -> list[dict[str, Any]]:
            return [{"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a",
                     "Num": 0}]

    monkeypatch.setitem(sys.modules, "picamera2", type(sys)("picamera2"))
    monkeypatch.setattr(sys.modules["picamera2"], "Picamera2", Picamera2, raising=False)
    assert devices.list_picamera2_cameras()[0]["Model"] == "imx708"


def test_the_cameras_command_lists_what_there_is(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_sdk.cli import main

    monkeypatch.setitem(sys.modules, "picamera2", None)  # importing it raises ImportError
    assert main(["cameras", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert isinstance(listing["v4l2"], list) and listing["picamera2"] is None
    assert "sudo apt install python3-picamera2" in listing["picamera2_error"]
    assert main(["cameras"]) == 0
    assert "Picamera2: not listed: picamera2 does not import" in capsys.readouterr().out
