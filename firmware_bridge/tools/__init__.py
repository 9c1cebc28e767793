"""Development tools kept out of the device runtime: simulators, firmware builders, vectors, CLI.

Importing this package builds nothing and starts nothing; the simulators and builders run only
when called.
"""

from firmware_bridge.tools.firmware import (
    FirmwareSize,
    HostTools,
    build_avr_core,
    build_host_tools,
    build_simavr_harness,
    build_uno_sketch,
)
from firmware_bridge.tools.simavr import AVRSimulator, OutputEvent
from firmware_bridge.tools.simulator import ActuatorEvent, HostSimulator

__all__ = [
    "AVRSimulator",
    "ActuatorEvent",
    "FirmwareSize",
    "HostSimulator",
    "HostTools",
    "OutputEvent",
    "build_avr_core",
    "build_host_tools",
    "build_simavr_harness",
    "build_uno_sketch",
]
