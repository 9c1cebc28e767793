"""What ``edge-sdk validate-config`` checks beyond the config's own validation: what ``run`` would open.

The model bundle is read (manifest and checksum, not loaded into an interpreter) and each of its
inputs must have a source; the camera spec is resolved as the source factory does (a video file
must exist and decode, a folder must hold images, a camera must be a V4L2 capture device, a
``gst://`` pipeline needs OpenCV's GStreamer backend, ``picamera2://N`` a camera Picamera2 lists);
text and sensor files must exist; a serial ``bridge.url`` that is a device path must be a character
device the user may open. Nothing here opens the network or a serial port, and stream URLs are not
contacted. Every problem is one line naming the key, what was expected and what was found.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from edge_sdk.config import DeviceConfig, _with_line, parse_config, read_config_file
from edge_sdk.errors import BundleError, ConfigError, MissingDependencyError, SourceError
from edge_sdk.sources.config import CameraConfig

__all__ = ["check_config_file", "check_resources"]

_CAMERAS_HINT = "`edge-sdk cameras` lists the cameras"


def check_config_file(path: str | Path, devices: bool = True) -> tuple[DeviceConfig, list[str]]:
    """Parse ``path`` (ConfigError with the line for a bad file), then the problems of what it names.

    Each problem is prefixed ``file:line:`` like the parse errors. ``devices=False`` leaves out this
    machine's cameras and serial ports, for a config meant for another device.
    """
    data, source_text = read_config_file(path)
    config = parse_config(data, source_text, str(path))
    return config, [_with_line(problem, source_text, str(path)) for problem in check_resources(config, devices)]


def check_resources(config: DeviceConfig, devices: bool = True) -> list[str]:
    """The problems (``key: message``) of the files and devices ``config`` names; [] when run can open them."""
    problems = _model(config)
    if devices or not _is_device_source(config.camera.source):
        problems += _camera(config.camera)
    for key, section in (("text", config.text), ("sensor", config.sensor)):
        if section.source == "file":
            if section.path is None:
                problems.append(f"{key}.path: expected a file for {key}.source: file. Got: null")
            elif not Path(section.path).is_file():
                problems.append(f"{key}.path: file not found: {section.path}. Expected a file for {key}.source: file")
    if config.bridge is not None and devices:
        problems += _serial_port(config.bridge.url)
    return problems


def _is_device_source(source: str) -> bool:
    from edge_sdk.sources.factory import split_spec

    try:
        return split_spec(source)[0] in ("camera", "picamera2")
    except ConfigError:
        return False


def _model(config: DeviceConfig) -> list[str]:
    from edge_sdk.bundle import read_bundle
    from edge_sdk.runtime import check_inputs_have_sources, default_bundle_path

    path = config.model.path or default_bundle_path()
    try:
        bundle = read_bundle(path)
    except BundleError as exc:
        return [f"model.path: {exc}"]
    try:
        check_inputs_have_sources(bundle.manifest, config)
    except ConfigError as exc:
        return [str(exc)]
    return []


def _camera(camera: CameraConfig) -> list[str]:
    from edge_sdk.sources.factory import camera_target, split_spec

    try:
        scheme, rest = split_spec(camera.source)
        if scheme == "camera":
            target = camera_target(rest, camera.source)
    except ConfigError as exc:
        return [str(exc)]
    key = "camera.source"
    if scheme == "images":
        return _image_folder(rest)
    if scheme == "picamera2":
        return _picamera2(rest)
    if scheme not in ("camera", "file", "gst"):
        return []  # streams (not contacted) and plugin schemes (checked when opened)
    try:
        from edge_sdk._lazy import require

        cv2 = require("cv2", f"{scheme}:// sources (OpenCV VideoCapture)")
    except MissingDependencyError as exc:
        return [f"{key}: {exc}"]
    if scheme == "gst":
        from edge_sdk.sources.gstreamer import has_gstreamer, no_gstreamer_message

        return [] if has_gstreamer(cv2) else [f"{key}: {no_gstreamer_message()}"]
    if scheme == "file":
        return _video_file(cv2, rest)
    return _v4l2_device(f"/dev/video{target}" if isinstance(target, int) else target)


def _video_file(cv2: object, path: str) -> list[str]:
    if not Path(path).is_file():
        what = "a folder: use images://" if Path(path).is_dir() else "nothing there"
        return [(f"camera.source: video file not found: {path} ({what}). Expected a video file, images://folder "
                f"or a camera (camera://0, /dev/video0)")]
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)  # type: ignore[attr-defined]
    try:
        if not capture.isOpened():
            return [f"camera.source: cannot decode {path} as video (not a video, corrupt or unsupported codec)"]
    finally:
        capture.release()
    return []


def _image_folder(folder: str) -> list[str]:
    from edge_sdk.sources.media import IMAGE_SUFFIXES

    root = Path(folder)
    if not root.is_dir():
        return [f"camera.source: image folder not found: {folder}. Expected a folder of images for images://"]
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in root.iterdir()):
        return [f"camera.source: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}"]
    return []


def _v4l2_device(path: str) -> list[str]:
    if not sys.platform.startswith("linux"):
        return []  # camera indices of other systems are not device files
    from edge_sdk.sources.devices import query_capability

    key = "camera.source"
    kind = _file_kind(path)
    if kind is None:
        return [f"{key}: no such device: {path}. Expected a V4L2 capture device; {_CAMERAS_HINT}"]
    if kind != "character device":
        return [f"{key}: {path} is not a device (a {kind}). Expected a V4L2 capture device; {_CAMERAS_HINT}"]
    try:
        capability = query_capability(path)
    except SourceError as exc:
        return [f"{key}: {exc}"]
    if not capability.is_capture:
        return [(f"{key}: {path} ({capability.card or capability.driver}) does not capture video (device_caps "
                f"{capability.device_caps:#010x}: a metadata, codec or output node). {_CAMERAS_HINT}")]
    return []


def _picamera2(rest: str) -> list[str]:
    from edge_sdk.sources.devices import list_picamera2_cameras

    try:
        cameras = list_picamera2_cameras()
    except (MissingDependencyError, SourceError) as exc:
        return [f"camera.source: {exc}"]
    index = int(rest or "0") if (rest or "0").isdigit() else -1
    if not 0 <= index < len(cameras):
        return [(f"camera.source: expected picamera2://0..{len(cameras) - 1}. Got: picamera2://{rest} "
                f"(Picamera2 lists {len(cameras)} cameras; {_CAMERAS_HINT})")]
    return []


def _serial_port(url: str) -> list[str]:
    if "://" in url or not url.startswith("/"):
        return []  # socket://, loop://, rfc2217://: nothing local to look at
    kind = _file_kind(url)
    if kind is None:
        return [(f"bridge.url: no such serial port: {url}. Expected the microcontroller's port "
                "(`edge-sdk bridge ports` lists them)")]
    if kind != "character device":
        return [f"bridge.url: {url} is not a serial device (a {kind}). Expected a port such as /dev/ttyACM0"]
    if not os.access(url, os.R_OK | os.W_OK):
        return [(f"bridge.url: {url}: permission denied. Add the user to the dialout group "
                "(sudo usermod -aG dialout $USER, then log in again)")]
    return []


def _file_kind(path: str) -> str | None:
    """What is at ``path`` (links followed): None when nothing is."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISCHR(mode):
        return "character device"
    return "folder" if stat.S_ISDIR(mode) else "regular file" if stat.S_ISREG(mode) else "special file"
