"""The seek robot as a script: video camera + text commands + ultrasonic sensor over serial -> fused model -> motors.

The microcontroller is the reference firmware running on this machine on a pseudo-terminal
(HostSimulator); point ``bridge.url`` at /dev/ttyACM0 for a real board.

    python examples/seek_robot.py --seconds 20
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from edge_sdk import Runtime, parse_config
from edge_sdk.demo.seek import SeekClip, write_clip
from firmware_bridge.tools import HostSimulator

MOTORS = {"left": (-300, 300), "right": (300, -300), "center": (600, 600), "absent": (150, -150), "blocked": (0, 0)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("work/seek_robot"))
    args = parser.parse_args(argv)

    clip = write_clip(args.out / "clip.avi", SeekClip(seconds=args.seconds))  # video + commands + distance trace
    trace = [(r["t_s"] * 1000, r["distance_cm"]) for r in map(json.loads, clip.sensor.read_text().splitlines())]
    rules = [{"label": label, "commands": {"motor_left": left, "motor_right": right}, "min_confidence": 0.5}
             for label, (left, right) in MOTORS.items()]
    decisions: Counter[str] = Counter()
    with HostSimulator(trace=trace) as mcu:
        config = parse_config({
            "device": "seek-robot",
            "camera": {"source": f"file://{clip.video}"},
            "text": {"source": "file", "path": str(clip.commands)},
            "sensor": {"source": "bridge"},  # distance readings come over the serial protocol
            "bridge": {"url": mcu.port},
            "actions": {"rules": rules},  # decisions -> motor commands, acknowledged by the MCU
            "embedded_broker": {"enabled": False},  # no MQTT here: see `edge-sdk demo` for that
        })
        with Runtime(config, on_result=lambda result: decisions.update([result.label])) as robot:
            summary = robot.run()
        applied = len(mcu.actuator_events())
    print(f"decisions: {dict(decisions)}; {summary['results']} results at {summary['fps']} fps")
    print(f"motor commands acknowledged: {summary['actions']['commands_acked']}; applied by the MCU: {applied}")
    return {"results": summary["results"], "commands_acked": summary["actions"]["commands_acked"], "applied": applied}


if __name__ == "__main__":
    main()
