"""Whether this OpenCV can run ``gst://`` pipelines, and what to do when it cannot.

The pip wheels (``opencv-python-headless``, which ``pip install edge-fusion-sdk[device]`` brings) are built
without GStreamer; Debian's and Raspberry Pi OS's ``python3-opencv`` has it. A venv sees that package
only when created with ``--system-site-packages`` (``edge-sdk deploy`` makes its venv that way), and
even then a pip OpenCV in the venv shadows it, so it has to go. Debian's ``cv2`` is built against
Debian's numpy 1.x: a numpy 2 in the venv breaks its import (deploy pins ``numpy<2``).
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PIP_OPENCV", "PythonEnv", "has_gstreamer", "no_gstreamer_message"]

PIP_OPENCV = ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless", "opencv-contrib-python")
_APT = "sudo apt install python3-opencv gstreamer1.0-plugins-base gstreamer1.0-plugins-good"


def has_gstreamer(cv2: Any) -> bool:
    """True when this OpenCV build has the GStreamer videoio backend."""
    return bool(cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER))


@dataclass(frozen=True)
class PythonEnv:
    """The facts about the running interpreter that decide the advice."""

    prefix: str
    executable: str
    in_venv: bool
    system_site_packages: bool
    pip_opencv: tuple[str, ...]  # pip OpenCV distributions installed in it
    numpy_major: int | None
    writable: bool  # False: pip in it needs sudo (the deployed venv is root's)

    @classmethod
    def current(cls) -> PythonEnv:
        in_venv = sys.prefix != sys.base_prefix
        try:
            cfg = (Path(sys.prefix) / "pyvenv.cfg").read_text(encoding="utf-8")
        except OSError:
            cfg = ""
        system_site = not in_venv or any(
            line.replace(" ", "").lower() == "include-system-site-packages=true" for line in cfg.splitlines())
        installed = tuple(name for name in PIP_OPENCV if _installed(name))
        try:
            numpy_major: int | None = int(importlib.metadata.version("numpy").split(".")[0])
        except (importlib.metadata.PackageNotFoundError, ValueError):
            numpy_major = None
        return cls(sys.prefix, sys.executable, in_venv, system_site, installed, numpy_major,
                   os.access(sys.prefix, os.W_OK))


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def no_gstreamer_message(env: PythonEnv | None = None) -> str:
    """One line: why gst:// cannot work here, then the exact commands that make it work in this env."""
    env = env or PythonEnv.current()
    sudo = "" if env.writable else "sudo "
    pip = f"{sudo}{env.executable} -m pip"
    steps = [_APT]
    if env.in_venv and not env.system_site_packages:
        steps.append(f"let this venv see it: python3 -m venv --system-site-packages {env.prefix} "
                     "(keeps the installed packages; edge-sdk deploy makes its venv this way)")
    if env.pip_opencv:
        steps.append(f"remove the pip OpenCV that shadows it: {pip} uninstall --yes {' '.join(env.pip_opencv)}")
    if env.numpy_major is not None and env.numpy_major >= 2:
        steps.append(f"Debian's cv2 needs numpy 1: {pip} install 'numpy<2'")
    steps.append(f"check: {env.executable} -c 'import cv2; print(cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER))'")
    note = ""
    if env.pip_opencv:
        note = " (edge-sdk deploy's install.sh installs opencv-python-headless again: repeat the uninstall after it)"
    return ("this OpenCV has no GStreamer backend (pip's OpenCV wheels are built without it), so gst:// sources "
            "cannot open. Debian's python3-opencv has it: " + "; ".join(f"{n}. {step}" for n, step in
                                                                        enumerate(steps, 1)) + note)
