"""Benchmark of the model zoo through the runtime (``make bench-models``).

For every model of tests/fixtures/zoo (wrapped from its spec in tests/fixtures/zoo/specs):
- ``raw_parity_max_abs``: the runtime's raw outputs against a direct interpreter run on the same
  tensors (0: the runtime feeds and reads exactly what a direct interpreter does);
- ``results_per_s``: through the runtime's pipeline (capture thread, preprocess, invoke, task decode)
  over a video, every frame; models without an image input through ``Model.predict``;
- ``bare_per_s``: a bare loop of the interpreter plus the same task decoding on the same, already
  prepared tensors; ``overhead_ratio`` = results_per_s / bare_per_s, the median of ``--rounds``
  rounds that alternate the two (the machine may be shared).
Prints a table, then as its last line one JSON object: ``models``, ``models_loaded``,
``raw_parity_max_abs``, ``detect_overhead_ratio``, ``task_overhead_ratio_min`` and per-model figures.

The zoo's detector has a small real detector's cost (128x128 input, about 1.2 ms an invoke, 71 KB),
so ``detect_overhead_ratio`` measures what the runtime adds around a model. The other zoo models
are test fixtures of 3 to 35 KB that invoke in under 120 us: their ratio is mostly the cost of
turning a video frame into their input. The same ratio is also measured for a detector of real
size (``detect_overhead_ratio_realistic``: BlazeFace's layout, 128x128, about 1 to 3 ms an invoke,
built once by ``bench/_runtime_realistic.py``) over a 640x480 video.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_sdk.bundle import read_bundle
from edge_sdk.bundle.wrap import wrap_from_spec_file
from edge_sdk.model import Model
from edge_sdk.testing.interpreter import run_directly

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "tests" / "fixtures" / "zoo"


def _inputs(model: Model, frame: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for spec in model.signature.inputs:
        if spec.role == "image":
            kwargs["image"] = frame
        elif spec.role == "tensor":
            kwargs.setdefault("tensors_in", {})[spec.name] = rng.uniform(-1, 1, spec.shape).astype(np.float32)
    return kwargs


def _bare_per_s(model: Model, prepared: list[dict[str, np.ndarray]], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for tensors in prepared:
            model.decode(model.infer(tensors))
            count += 1
    return count / (time.perf_counter() - start)


def _runtime_per_s(path: Path, key: str | None, model: Model, video: Path, kwargs: dict[str, Any],
                   seconds: float) -> tuple[float, dict[str, float]]:
    """Results per second, and the run's per-stage p50 in ms (what a result costs besides invoke)."""
    if model.signature.input("image") is None:  # no run source for tensor or text inputs: the Python API loop
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model.predict(**{k if k != "tensors_in" else "tensors": v for k, v in kwargs.items() if k != "image"})
            count += 1
        return count / (time.perf_counter() - start), {}
    from edge_sdk.pipeline import Pipeline
    from edge_sdk.sources import open_frame_source

    with Model.from_bundle(path, signature=key) as served, \
            Pipeline(served, open_frame_source(f"file://{video}", playback="every_frame")) as pipeline:
        stats = pipeline.run()
    return float(stats["fps"]), {k: v["p50_ms"] for k, v in stats["stages"].items()}


def _side_by_side(path: Path, key: str | None, model: Model, tensors: dict[str, np.ndarray], video: Path,
                  kwargs: dict[str, Any], seconds: float, rounds: int) -> tuple[float, float, float, dict[str, float]]:
    """Bare loop and runtime run alternated ``rounds`` times (the machine may be shared): medians of
    each rate and of the per-round ratio, and the last run's stage timings."""
    bares, throughs, ratios = [], [], []
    stages: dict[str, float] = {}
    for _ in range(rounds):
        bare = _bare_per_s(model, [tensors], seconds)
        through, stages = _runtime_per_s(path, key, model, video, kwargs, seconds)
        bares.append(bare)
        throughs.append(through)
        ratios.append(through / bare)
    return statistics.median(bares), statistics.median(throughs), statistics.median(ratios), stages


def _realistic_row(workdir: Path, frames: int, seconds: float, rounds: int) -> dict[str, Any]:
    """The real-size detector over a 640x480 clip: the runtime's pipeline against the bare loop."""
    sys.path.insert(0, str(REPO / "bench"))
    from _runtime_realistic import ensure_bundle, ensure_video

    workdir.mkdir(parents=True, exist_ok=True)
    bundle, video = ensure_bundle(workdir), ensure_video(workdir, frames)
    import cv2

    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise RuntimeError(f"{video}: no frame")
    with Model.from_bundle(bundle) as model:
        tensors = model.prepare(image=frame, color_order="BGR")
        ours, theirs = model.backend.infer(tensors), run_directly(bundle, None, tensors)
        parity = max(float(np.max(np.abs(ours[n].astype(np.float64) - theirs[n]))) for n in ours)
        bare, through, ratio, stages = _side_by_side(bundle, None, model, tensors, video, {"image": frame}, seconds,
                                                     rounds)
    return {"model": "face_detector_like (640x480)", "task": "detect", "raw_parity_max_abs": parity,
            "results_per_s": round(through, 1), "bare_per_s": round(bare, 1),
            "overhead_ratio": round(ratio, 3), "via": "pipeline", "stages_p50_ms": stages, "zoo": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each bare loop")
    parser.add_argument("--frames", type=int, default=600, help="frames of the video the pipeline runs over")
    parser.add_argument("--realistic-workdir", type=Path, default=REPO / "work" / "bench-runtime",
                        help="where the real-size detector and its 640x480 video are built once")
    parser.add_argument("--rounds", type=int, default=3, help="bare loop and runtime run alternated this often")
    parser.add_argument("--no-realistic", action="store_true", help="the zoo only")
    args = parser.parse_args()
    from edge_sdk.demo.seek import SeekClip, write_clip

    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = write_clip(work / "clip.mp4", SeekClip(seconds=args.frames / 30.0, fps=30.0, size=160, seed=1))
        frame = rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)
        specs = sorted((ZOO / "specs").glob("*.yaml"))
        for spec in tqdm(specs, desc="zoo", unit="model"):
            path = work / f"{spec.stem}.tflite"
            wrap_from_spec_file(ZOO / f"{spec.stem}.tflite", path, spec)
            for signature in read_bundle(path).manifest.signatures:
                with Model.from_bundle(path, signature=signature.key) as model:
                    kwargs = _inputs(model, frame, rng)
                    tensors = model.prepare(image=kwargs.get("image"), tensors_in=kwargs.get("tensors_in"))
                    ours, theirs = model.backend.infer(tensors), run_directly(path, signature.key, tensors)
                    parity = max(float(np.max(np.abs(ours[n].astype(np.float64) - theirs[n]))) for n in ours)
                    bare, through, ratio, stages = _side_by_side(path, signature.key, model, tensors, clip.video,
                                                                 kwargs, args.seconds, args.rounds)
                rows.append({"model": spec.stem + (f":{signature.key}" if signature.key and len(
                    read_bundle(path).manifest.signatures) > 1 else ""), "task": model.task.kind,
                    "raw_parity_max_abs": parity, "results_per_s": round(through, 1), "bare_per_s": round(bare, 1),
                    "overhead_ratio": round(ratio, 3), "via": "pipeline" if "image" in kwargs else "predict",
                    "stages_p50_ms": stages, "zoo": True})
        if not args.no_realistic:
            rows.append(_realistic_row(args.realistic_workdir, args.frames, args.seconds, args.rounds))
    print(f"{'model':30} {'task':9} {'parity':>7} {'runtime/s':>10} {'bare/s':>9} {'ratio':>6}  via       "
          "capture/preprocess/invoke/post p50 ms")
    for r in rows:
        st = r["stages_p50_ms"]
        timings = "/".join(f"{st[k]:.3f}" for k in ("capture", "preprocess", "invoke", "post")) if st else "-"
        print(f"{r['model']:30} {r['task']:9} {r['raw_parity_max_abs']:7.2g} {r['results_per_s']:10.1f} "
              f"{r['bare_per_s']:9.1f} {r['overhead_ratio']:6.3f}  {r['via']:9} {timings}")
    zoo = [r for r in rows if r["zoo"]]
    detect = [r["overhead_ratio"] for r in zoo if r["task"] == "detect"]
    realistic = [r["overhead_ratio"] for r in rows if not r["zoo"]]
    figures = {"models": len(specs), "models_loaded": len({r["model"].split(":")[0] for r in zoo}),
               "raw_parity_max_abs": max(r["raw_parity_max_abs"] for r in rows),
               "detect_overhead_ratio": min(detect) if detect else None,
               "detect_overhead_ratio_realistic": realistic[0] if realistic else None,
               "task_overhead_ratio_min": min(r["overhead_ratio"] for r in zoo), "rows": rows}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
