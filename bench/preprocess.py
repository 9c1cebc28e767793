"""Benchmark of image preprocessing (``python bench/preprocess.py``): prepare_image per convention and size.

Times :func:`edge_sdk.preprocess.prepare_image` (geometry and colour order; what runs per frame
before the tensor is normalised or quantised) for each convention and resize mode on camera-sized
frames, and :func:`prepare_image_with_transform` for the cost of the transform. Prints a table,
then as its last line one JSON object with every figure (microseconds per frame, median of runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_sdk.preprocess import ImageSpec, RegionOfInterest, prepare_image, prepare_image_with_transform

CASES = [((640, 480), (128, 128)), ((1280, 720), (256, 256))]
RESIZES = ("stretch", "letterbox", "center_crop")


def _spec(convention: str, resize: str, size: tuple[int, int]) -> ImageSpec:
    if convention == "mediapipe":
        return ImageSpec.mediapipe(size[0], size[1], resize=resize)  # type: ignore[arg-type]
    return ImageSpec(width=size[0], height=size[1], resize=resize)  # type: ignore[arg-type]


def _time_us(call: Callable[..., Any], args: tuple[Any, ...], repeats: int, runs: int = 5, **kwargs: Any) -> float:
    call(*args, **kwargs)  # warm: OpenCV's first call allocates
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeats):
            call(*args, **kwargs)
        samples.append((time.perf_counter() - start) / repeats * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=200, help="calls per timed run (5 runs, median)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    for (frame_w, frame_h), size in CASES:
        frame = rng.integers(0, 256, (frame_h, frame_w, 3), dtype=np.uint8)
        for convention in ("opencv", "mediapipe"):
            for resize in RESIZES:
                spec = _spec(convention, resize, size)
                rows.append({
                    "frame": f"{frame_w}x{frame_h}", "input": f"{size[0]}x{size[1]}", "convention": convention,
                    "resize": resize,
                    "prepare_us": round(_time_us(prepare_image, (frame, spec, "BGR"), args.repeats), 1),
                    "with_transform_us": round(_time_us(prepare_image_with_transform, (frame, spec, "BGR"),
                                                        args.repeats), 1),
                })
        roi = RegionOfInterest(0.5, 0.5, 0.4, 0.5, 0.6)
        spec = ImageSpec.mediapipe(size[0], size[1], border="replicate")
        rows.append({
            "frame": f"{frame_w}x{frame_h}", "input": f"{size[0]}x{size[1]}", "convention": "mediapipe",
            "resize": "letterbox+rotated_roi", "prepare_us": None,
            "with_transform_us": round(_time_us(prepare_image_with_transform, (frame, spec, "BGR"), args.repeats,
                                                roi=roi), 1),
        })
    header = ("frame", "input", "convention", "resize", "prepare_us", "with_transform_us")
    widths = [max(len(h), *(len(str(row[h])) for row in rows)) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(str(row[h] if row[h] is not None else "-").ljust(w) for h, w in zip(header, widths)))
    figures = {f"{r['frame']}->{r['input']}/{r['convention']}/{r['resize']}": r["with_transform_us"]
               if r["prepare_us"] is None else r["prepare_us"] for r in rows}
    print(json.dumps({"unit": "us_per_frame", "prepare_image": figures, "rows": rows}))


if __name__ == "__main__":
    main()
