"""What pip installs on the device: the shipped wheel, the dependencies of its extras, minus the interpreter.

The interpreter (ai-edge-litert or tflite-runtime) is chosen by ``install.sh`` at install time, so
one deployment serves both. The list comes from the shipped wheel's own metadata (setup.cfg's
extras), so it cannot drift from what ``pip install 'edge-fusion-sdk[device]'`` would bring.
edge-fusion-sdk itself is the wheel file, never a name looked up on an index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from edge_sdk.deploy.options import BACKEND_REQUIREMENTS
from edge_sdk.distribution import DISTRIBUTION

__all__ = ["device_requirements", "render_constraints", "render_requirements"]

_INTERPRETERS = {re.sub(r"[-_.]+", "-", name) for name in BACKEND_REQUIREMENTS}
_EXTRA_MARKER = re.compile(r"""^\s*extra\s*==\s*["']([^"']+)["']\s*$""")


def _distribution_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def device_requirements(declared: Iterable[str], extras: Iterable[str]) -> list[str]:
    """The ``declared`` requirements (Requires-Dist lines) of ``extras``, without the interpreters, sorted."""
    extras = set(extras)
    chosen: dict[str, str] = {}
    for line in declared:
        requirement, _, marker = line.partition(";")
        match = _EXTRA_MARKER.match(marker)
        if match is None or match.group(1) not in extras:
            continue
        name = _distribution_name(requirement)
        if name in _INTERPRETERS or name == DISTRIBUTION:
            continue
        chosen.setdefault(name, requirement.strip())
    return [chosen[name] for name in sorted(chosen)]


def render_requirements(wheel: str, requirements: Sequence[str]) -> str:
    """requirements.txt: the shipped wheel (a path in the deployment), then the third-party dependencies."""
    lines = [
        f"# {DISTRIBUTION} from the wheel shipped here (never from an index), then the dependencies of its",
        "# extras from the index; install.sh adds the interpreter package.",
        wheel,
        *requirements,
    ]
    return "\n".join(lines) + "\n"


def render_constraints() -> str:
    # picamera2, simplejpeg and libcamera come from apt, compiled against Debian's numpy 1.24: a
    # numpy 2 in the venv breaks their import ("numpy.dtype size changed"), see
    # raspberrypi/picamera2#1088. With this pin pip keeps using the system numpy.
    return "# Keep numpy ABI-compatible with the apt-installed picamera2 (Debian bookworm: numpy 1.24).\nnumpy<2\n"
