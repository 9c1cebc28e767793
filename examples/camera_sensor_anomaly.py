"""Camera plus sensor anomaly: flag readings far from their recent history (z-score) and decisions that lose confidence.

The camera is a seek clip; the distance sensor is a recorded trace with a few glitches injected (a
sensor that reads 400 cm for a moment). Every fused result passes through a rolling detector.

    python examples/camera_sensor_anomaly.py --seconds 20
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import deque
from pathlib import Path

from edge_sdk import Runtime, parse_config
from edge_sdk.demo.seek import SeekClip, write_clip

GLITCH_AT_S = (3.0, 7.0)  # the injected sensor faults, within the clip


class RollingAnomaly:
    """``check(value)``: True when ``value`` is more than ``z_limit`` deviations from the last ``window`` values.

    Outliers stay out of the baseline, so a glitch is flagged for as long as it lasts; but after
    ``persist`` outliers in a row the signal has moved for real (an obstacle ahead), and they
    become the new baseline: a step is flagged once, not for as long as the obstacle stays.
    """

    def __init__(self, window: int = 30, z_limit: float = 4.0, min_std: float = 1.0, persist: int = 5) -> None:
        self.values: deque[float] = deque(maxlen=window)
        self.outliers: list[float] = []
        self.z_limit, self.min_std, self.persist = z_limit, min_std, persist  # min_std: ignore tiny noise

    def check(self, value: float) -> bool:
        if len(self.values) >= 10:
            mean, std = statistics.fmean(self.values), max(statistics.pstdev(self.values), self.min_std)
            if abs(value - mean) / std > self.z_limit:
                self.outliers.append(value)
                if len(self.outliers) >= self.persist:  # a new level, not a glitch
                    self.values.clear()
                    self.values.extend(self.outliers)
                    self.outliers.clear()
                return True
        self.outliers.clear()
        self.values.append(value)
        return False


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("work/anomaly"))
    args = parser.parse_args(argv)

    clip = write_clip(args.out / "clip.avi", SeekClip(seconds=args.seconds))
    records = [json.loads(line) for line in clip.sensor.read_text().splitlines()]
    for record in records:  # the faulty sensor: three readings of 400 cm at each glitch
        if any(0 <= record["t_s"] - t < 0.15 for t in GLITCH_AT_S):
            record["distance_cm"] = 400.0
    sensor_file = args.out / "faulty_sensor.jsonl"
    sensor_file.write_text("".join(json.dumps(r) + "\n" for r in records))

    distance, confidence, flagged = RollingAnomaly(), RollingAnomaly(z_limit=5.0, min_std=0.05), []

    def on_result(result) -> None:  # type: ignore[no-untyped-def]
        reasons = []
        if result.sensor is not None and distance.check(result.sensor["distance_cm"]):
            reasons.append(f"distance {result.sensor['distance_cm']:.0f} cm")
        if confidence.check(result.confidence):
            reasons.append(f"confidence {result.confidence:.2f}")
        if reasons:
            flagged.append({"t_s": round(result.media_t_s, 2), "label": result.label, "reasons": reasons})
            print(f"anomaly at {result.media_t_s:5.2f} s: {', '.join(reasons)} (decision {result.label})")

    config = parse_config({
        "camera": {"source": f"file://{clip.video}", "playback": "every_frame"},  # as fast as the model goes
        "text": {"source": "file", "path": str(clip.commands)},
        "sensor": {"source": "file", "path": str(sensor_file)},  # replayed in step with the video
        "embedded_broker": {"enabled": False},
    })
    with Runtime(config, on_result=on_result) as runtime:
        summary = runtime.run()
    print(f"{len(flagged)} anomalies in {summary['results']} results")
    return flagged


if __name__ == "__main__":
    main()
