"""What pip installs on the device: edge-fusion-sdk, the dependencies of its extras, minus the interpreter.

The interpreter (ai-edge-litert or tflite-runtime) is chosen by ``install.sh`` at install time, so
one deployment serves both. The list comes from the installed distribution's own metadata (setup.cfg's
extras), so it cannot drift from what ``pip install 'edge-fusion-sdk[device]'`` would bring.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Iterable

from edge_sdk.deploy.options import BACKEND_REQUIREMENTS
from edge_sdk.distribution import DISTRIBUTION

__all__ = ["device_requirements", "render_constraints", "render_requirements"]

_log = logging.getLogger(__name__)

_INTERPRETERS = {re.sub(r"[-_.]+", "-", name) for name in BACKEND_REQUIREMENTS}
_EXTRA_MARKER = re.compile(r"""^\s*extra\s*==\s*["']([^"']+)["']\s*$""")
# Used only when the distribution's metadata is unavailable (running from a source tree never installed).
_FALLBACK = {
    "device": ("opencv-python-headless>=4.8", "paho-mqtt>=2.1,<3", "pyserial>=3.5", "pyyaml>=6.0"),
    "broker": ("amqtt>=0.11",),
}


def _distribution_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def device_requirements(extras: Iterable[str]) -> list[str]:
    """Requirements of the distribution's ``extras``, without the interpreter packages, sorted and unique."""
    extras = set(extras)
    try:
        declared = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        _log.warning("%s is not installed; using the built-in list of device requirements", DISTRIBUTION)
        declared = [f'{req}; extra == "{extra}"' for extra, reqs in _FALLBACK.items() for req in reqs]
    chosen: dict[str, str] = {}
    for line in declared:
        requirement, _, marker = line.partition(";")
        match = _EXTRA_MARKER.match(marker)
        if match is None or match.group(1) not in extras:
            continue
        name = _distribution_name(requirement)
        if name in _INTERPRETERS:
            continue
        chosen.setdefault(name, requirement.strip())
    return [chosen[name] for name in sorted(chosen)]


def _version() -> str | None:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def render_requirements(extras: Iterable[str], *, package: str = "", wheel: str = "") -> str:
    """requirements.txt: edge-sdk itself (a shipped wheel, ``package`` or this version), then its deps."""
    if wheel:
        own = wheel
    elif package:
        own = package
    else:
        version = _version()
        own = f"{DISTRIBUTION}=={version}" if version else DISTRIBUTION
    lines = [
        "# edge-sdk and the dependencies of its extras; install.sh adds the interpreter package.",
        own,
        *device_requirements(extras),
    ]
    return "\n".join(lines) + "\n"


def render_constraints() -> str:
    # picamera2, simplejpeg and libcamera come from apt, compiled against Debian's numpy 1.24: a
    # numpy 2 in the venv breaks their import ("numpy.dtype size changed"), see
    # raspberrypi/picamera2#1088. With this pin pip keeps using the system numpy.
    return "# Keep numpy ABI-compatible with the apt-installed picamera2 (Debian bookworm: numpy 1.24).\nnumpy<2\n"
