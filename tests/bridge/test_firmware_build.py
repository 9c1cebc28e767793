"""The reference firmware compiles for the real chip, and fits it."""

from __future__ import annotations

import shutil

import pytest

from firmware_bridge.tools.firmware import build_avr_core, build_uno_sketch

needs_avr = pytest.mark.skipif(shutil.which("avr-gcc") is None, reason="gcc-avr is not installed")


@needs_avr
def test_core_fits_an_atmega328p_with_room_to_spare() -> None:
    size = build_avr_core()
    assert size.target == "atmega328p"
    assert size.ram_bytes < 512  # of 2048
    assert size.flash_bytes < 8 * 1024  # of 32768


@needs_avr
@pytest.mark.slow
def test_arduino_sketch_builds_for_the_uno() -> None:
    size = build_uno_sketch()
    assert size.image.suffix == ".elf" and size.image.exists()
    assert size.ram_bytes < 1024
    assert size.flash_bytes < 16 * 1024
