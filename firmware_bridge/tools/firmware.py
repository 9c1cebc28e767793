"""Build the reference firmware: host tools with gcc (cached), the core and the sketch for AVR,
and the simavr harness that runs an AVR image on a pty.

Builds go through ``firmware/Makefile`` into a cache directory keyed by a hash of the sources,
so the tests, the bench and the demo share one build and rebuild only when a C file changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.errors import FirmwareBuildError

__all__ = [
    "FirmwareSize",
    "HostTools",
    "build_avr_core",
    "build_host_tools",
    "build_simavr_harness",
    "build_uno_sketch",
    "cache_dir",
    "firmware_dir",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostTools:
    """Paths of the host builds."""

    simulator: Path  # bp_sim
    vectors_tool: Path  # bp_vectors


@dataclass(frozen=True)
class FirmwareSize:
    """Static memory use reported by the compiler toolchain."""

    target: str  # "atmega328p" or "host"
    ram_bytes: int  # .data + .bss
    flash_bytes: int  # .text + .data
    image: Path


def firmware_dir() -> Path:
    """The C sources shipped with the package."""
    return Path(__file__).resolve().parent.parent / "firmware"


def cache_dir() -> Path:
    """Where builds go: ``$FIRMWARE_BRIDGE_CACHE`` or ``~/.cache/firmware_bridge``."""
    env = os.environ.get("FIRMWARE_BRIDGE_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "firmware_bridge"


def _source_hash() -> str:
    digest = hashlib.sha256()
    root = firmware_dir()
    for path in sorted(root.rglob("*")):
        if (
            path.is_file()
            and path.suffix in {".c", ".h", ".ino", ""}
            and "build" not in path.parts
        ):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _make(target: str, build: Path, extra: tuple[str, ...] = ()) -> str:
    if shutil.which("make") is None:
        raise FirmwareBuildError(
            "building the firmware needs `make`; install the Debian package make"
        )
    build.mkdir(parents=True, exist_ok=True)
    # One build at a time per cache entry: tests and the bench may start together.
    with open(build / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cmd = [
            "make",
            "-s",
            "-C",
            str(firmware_dir()),
            f"BUILD_DIR={build}",
            target,
            *extra,
        ]
        log.debug("building firmware: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise FirmwareBuildError(
            f"`make {target}` in {firmware_dir()} failed (exit {proc.returncode}):\n{tail}"
        )
    return proc.stdout


def build_host_tools() -> HostTools:
    """Build (or reuse) bp_sim and bp_vectors with the host's gcc."""
    if shutil.which(os.environ.get("CC", "gcc")) is None:
        raise FirmwareBuildError(
            "building the host simulator needs gcc; install the Debian package gcc"
        )
    build = cache_dir() / _source_hash()
    tools = HostTools(build / "bp_sim", build / "bp_vectors")
    if not (tools.simulator.exists() and tools.vectors_tool.exists()):
        _make("host", build)
    return tools


_AVR_SIZE = re.compile(r"^(Program|Data):\s+(\d+) bytes", re.MULTILINE)


def _avr_size(elf: Path) -> tuple[int, int]:
    proc = subprocess.run(
        ["avr-size", "--format=avr", "--mcu=atmega328p", str(elf)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = {m.group(1): int(m.group(2)) for m in _AVR_SIZE.finditer(proc.stdout)}
    if proc.returncode != 0 or len(found) != 2:
        raise FirmwareBuildError(
            f"avr-size must report Program and Data sizes. Got: {proc.stdout or proc.stderr}"
        )
    return found["Data"], found["Program"]


def build_avr_core() -> FirmwareSize:
    """The portable core with a minimal main for an ATmega328P, or for the host without avr-gcc."""
    build = cache_dir() / _source_hash()
    if shutil.which("avr-gcc") and shutil.which("avr-size"):
        elf = build / "core_avr.elf"
        if not elf.exists():
            _make(str(elf), build)
        ram, flash = _avr_size(elf)
        return FirmwareSize("atmega328p", ram, flash, elf)
    log.warning("avr-gcc not found: reporting the core's size for the host instead")
    tools = build_host_tools()
    proc = subprocess.run(
        ["size", "-A", str(tools.vectors_tool)],
        capture_output=True,
        text=True,
        check=False,
    )
    sections = {
        p[0]: int(p[1])
        for p in (line.split() for line in proc.stdout.splitlines())
        if len(p) >= 2 and p[1].isdigit()
    }
    ram = sections.get(".data", 0) + sections.get(".bss", 0)
    return FirmwareSize(
        "host",
        ram,
        sections.get(".text", 0) + sections.get(".data", 0),
        tools.vectors_tool,
    )


def build_uno_sketch() -> FirmwareSize:
    """Build the Arduino sketch for an Uno with arduino-mk; the ELF is what would be flashed."""
    if (
        not Path("/usr/share/arduino/Arduino.mk").exists()
        or shutil.which("avr-gcc") is None
    ):
        raise FirmwareBuildError(
            "building the Uno sketch needs arduino-mk, arduino-core-avr and gcc-avr (Debian packages)"
        )
    build = cache_dir() / _source_hash()
    elf = build / "uno" / "edge_bridge.elf"
    if not elf.exists():
        _make("uno", build)
    ram, flash = _avr_size(elf)
    return FirmwareSize("atmega328p", ram, flash, elf)


SIMAVR_HEADER = Path("/usr/include/simavr/parts/uart_pty.h")


def build_simavr_harness() -> Path:
    """Build (or reuse) bp_simavr, which runs an AVR image in simavr with UART0 on a pty."""
    if not SIMAVR_HEADER.exists() or shutil.which(os.environ.get("CC", "gcc")) is None:
        raise FirmwareBuildError(
            f"the simavr harness needs gcc and {SIMAVR_HEADER}: install the Debian packages "
            "gcc, simavr, libsimavr-dev and libsimavrparts1"
        )
    harness = cache_dir() / _source_hash() / "bp_simavr"
    if not harness.exists():
        _make(str(harness), harness.parent)
    return harness
