"""The pipeline's two stages run alone, back to back, in one process (a helper of ``bench/runtime.py``).

    python bench/_runtime_stages.py --video clip.mp4 --frames 3000 [--model seek_int8.tflite]

Runs the same code paths as ``edge-sdk run`` with every_frame playback, without the threads around
them, and prints one JSON object:

- capture: ``open_frame_source(...).read()`` in a loop (OpenCV decode, Frame, the MediaClock
  re-stamp every_frame playback does), ``--frames`` frames;
- infer: ``model.prepare`` + ``model.infer`` + ``model.decode`` on the decoded frames (cycled),
  with the text and distance a seek clip gives, ``--frames`` times.

- capture through the capture process (``camera.capture: process``): the same loop over a
  ``ProcessFrameSource``, with the CPU time per frame of this process and of the capture process
  (``capture_process_*``); and the copy of one frame out of a shared-memory ring slot, the price of
  handing out frames its holders own (``copy_out_us``, and for a 768x576 frame ``copy_out_us_768x576``).

Each loop reports its wall time per frame (``capture_ms``, ``infer_ms``) and the CPU time of the
whole process per frame (``capture_cpu_ms``, ``infer_cpu_ms``: every thread, OpenCV's decoder and
XNNPACK's included), which ``overhead_cpu_us_per_result`` subtracts from the runtime's CPU time.

Per-call timings come from a second, timed pass so the untimed loop rates stay free of timer
overhead. The caller pins this process (``sched_setaffinity``) for the one-core figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from edge_sdk.config import ModelConfig
from edge_sdk.model import FusionModel
from edge_sdk.pipeline.capture_process import ProcessFrameSource
from edge_sdk.pipeline.frame_ring import FrameRing
from edge_sdk.runtime import default_bundle_path
from edge_sdk.sources import CameraConfig, open_frame_source

_PROMPT = "find the red circle"
_SENSOR = {"distance_cm": 80.0}
_KEPT_FRAMES = 300  # decoded frames kept for the infer loop (about 33 MB at 192x192)


def _capture(video: Path, n_frames: int) -> tuple[float, float, list]:
    """Seconds and CPU seconds per frame of the read loop, and the first frames for the infer loop."""
    config = CameraConfig(source=f"file://{video}", playback="every_frame")
    source = open_frame_source(config)  # every_frame: on its own media clock, as edge-sdk run
    kept = []
    try:
        frame = source.read()  # the first read opens the decoder's buffers: not timed
        if frame is None:
            raise SystemExit(f"{video}: no frames")
        kept.append(frame)
        count = 0
        started_s, started_cpu_s = time.perf_counter(), time.process_time()
        while count < n_frames:
            frame = source.read()
            if frame is None:
                break
            count += 1
            if len(kept) < _KEPT_FRAMES:
                kept.append(frame)
        elapsed_s, elapsed_cpu_s = time.perf_counter() - started_s, time.process_time() - started_cpu_s
    finally:
        source.close()
    if count < n_frames // 2:
        raise SystemExit(f"{video}: only {count} frames, expected {n_frames}")
    return elapsed_s / count, elapsed_cpu_s / count, kept


def _capture_process(video: Path, n_frames: int) -> dict[str, float]:
    """The read loop over a capture process: wall and CPU time per frame, here and in the child."""
    with ProcessFrameSource(CameraConfig(source=f"file://{video}", playback="every_frame")) as source:
        if source.read() is None:  # the first read opens the decoder and the ring: not timed
            raise SystemExit(f"{video}: no frames")
        child_cpu_s = _child_cpu_s(source.pid)
        count = 0
        started_s, started_cpu_s = time.perf_counter(), time.process_time()
        while count < n_frames and source.read() is not None:
            count += 1
        elapsed_s, elapsed_cpu_s = time.perf_counter() - started_s, time.process_time() - started_cpu_s
        child_cpu_s = _child_cpu_s(source.pid) - child_cpu_s
    return {"capture_process_ms": round(elapsed_s / count * 1000, 4),
            "capture_process_parent_cpu_ms": round(elapsed_cpu_s / count * 1000, 4),
            "capture_process_child_cpu_ms": round(child_cpu_s / count * 1000, 4)}


def _child_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _copy_out_us(shape: tuple[int, ...], repeats: int = 500) -> float:
    """Median microseconds of one frame copied out of a ring slot (what ProcessFrameSource does per frame)."""
    ring = FrameRing.create(2, int(np.prod(shape)))
    try:
        ring.view(0, shape)[...] = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        spans = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ring.view(0, shape).copy()
            spans.append(time.perf_counter() - t0)
    finally:
        ring.close()
    return round(statistics.median(spans) * 1e6, 2)


def _infer(model: FusionModel, frames: list, n_frames: int) -> tuple[float, float]:
    """Seconds and CPU seconds (the whole process: XNNPACK's threads too) per frame."""
    prepare, infer, decode = model.prepare, model.infer, model.decode
    kept = len(frames)
    started_s, started_cpu_s = time.perf_counter(), time.process_time()
    for i in range(n_frames):
        frame = frames[i % kept]
        decode(infer(prepare(frame.pixels, _PROMPT, _SENSOR, frame.color_order)))
    return (time.perf_counter() - started_s) / n_frames, (time.process_time() - started_cpu_s) / n_frames


def _per_call_ms(model: FusionModel, frames: list, n_frames: int) -> dict[str, float]:
    """Median of each call, timed one by one (what the pipeline's stage timings measure)."""
    spans: dict[str, list[float]] = {"preprocess": [], "invoke": [], "post": []}
    clock = time.perf_counter
    for i in range(n_frames):
        frame = frames[i % len(frames)]
        t0 = clock()
        tensors = model.prepare(frame.pixels, _PROMPT, _SENSOR, frame.color_order)
        t1 = clock()
        outputs = model.infer(tensors)
        t2 = clock()
        model.decode(outputs)
        t3 = clock()
        spans["preprocess"].append(t1 - t0)
        spans["invoke"].append(t2 - t1)
        spans["post"].append(t3 - t2)
    return {f"{name}_p50_ms": round(statistics.median(values) * 1000, 4) for name, values in spans.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--model", type=Path, default=default_bundle_path())
    parser.add_argument("--num-threads", type=int, default=ModelConfig().num_threads,
                        help="model.num_threads; default: the device config's default, which the runs use")
    args = parser.parse_args(argv)
    capture_s, capture_cpu_s, frames = _capture(args.video, args.frames)
    through_process = _capture_process(args.video, args.frames)
    copy_out = {"copy_out_us": _copy_out_us(tuple(frames[0].pixels.shape)),
                "copy_out_us_768x576": _copy_out_us((576, 768, 3))}
    with FusionModel.from_bundle(args.model, num_threads=args.num_threads) as model:
        _infer(model, frames, min(200, args.frames))  # warm-up: XNNPACK packs weights on the first invokes
        infer_s, infer_cpu_s = _infer(model, frames, args.frames)
        per_call = _per_call_ms(model, frames, min(1000, args.frames))
    print(json.dumps({
        "capture_ms": round(capture_s * 1000, 4),
        "infer_ms": round(infer_s * 1000, 4),  # preprocess + invoke + decode, untimed loop
        "capture_cpu_ms": round(capture_cpu_s * 1000, 4),  # CPU time of the process per frame
        "infer_cpu_ms": round(infer_cpu_s * 1000, 4),
        **per_call,
        **through_process,
        **copy_out,
        "frames": args.frames,
        "frame_shape": list(frames[0].pixels.shape),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
