"""Benchmark of the dual encoder on seek captions (issue 11, host half).

Trains the dual encoder on seek scenes captioned with their full description and one partial
query each (through the generic manifest path, ``captions.csv``), exports the two-signature
bundle in float32 and int8, and measures it **through edge_sdk** (``edge_sdk.Model``, the TFLite
bundle, signature ``embed_image`` or ``embed_text``), on scenes it never saw:

- ``t2i_r1``, ``t2i_r5``: each of 1,000 held-out scenes' full description queries the 1,000
  held-out images; a hit is an image whose description is identical (often the scene itself);
- ``partial_p10``: partial queries ("a blue square", "something red on the right") over an index
  of 10,000 further frames; precision at 10 by :func:`edge_sdk.demo.seek.captions.matches`;
- ``int8_r1_drop``: float32 minus int8 ``t2i_r1``;
- ``t2i_r1_continuous``: ``t2i_r1`` of the float32 bundle on 1,000 held-out scenes of the
  classifier's world, whose radii run continuously through the small/large cut (the captioned data
  keeps them clear of it, :data:`edge_sdk.demo.seek.world.SEPARATED_RADIUS_RANGES`): how much of
  the remaining miss rate is the size word at the cut.

Prints a table, then one JSON object as its last line. The trained bundles are cached by their
parameters under ``work/bench-retrieval``; :func:`trained_bundles` gives other benches their paths.

    .venv/bin/python bench/retrieval.py [--scenes 20000] [--epochs 30] [--dims 64,128] [--size 64]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from _provenance import commit, versions  # bench/_provenance.py, beside this file

from converters.retrieval.metrics import cosine_stats, precision_at_k, recall_at_k
from edge_sdk.demo.seek.captions import describe, distinct_queries, matches, object_facts
from edge_sdk.demo.seek.dataset import caption_scenes
from edge_sdk.demo.seek.world import render_scene

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = ROOT / "work" / "bench-retrieval"
HELD_OUT_SCENES = 1000
INDEX_FRAMES = 10_000
PARTIAL_QUERIES = 100
MIN_MATCHES = 10  # a query with fewer matching frames than k cannot reach precision 1


@dataclass(frozen=True)
class BenchSize:
    scenes: int = 20000
    image_size: int = 64
    epochs: int = 30
    dim: int = 64
    seed: int = 0
    separated_sizes: bool = True  # caption radii clear of the small/large cut (part of the cache key)
    tower: str = "wide"  # image tower stem 32, blocks 48/64/96, squeeze 24 (r1 0.892 vs 0.877); or "default"
    hard_negative_group: int = 4  # half of each batch in groups of 4 nearest texts (0: random batches)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def trained_bundles(size: BenchSize = BenchSize(), workdir: Path = DEFAULT_WORKDIR, progress: bool = True) -> dict[str, Any]:
    """Train and export once per parameter set (cached): {"float32": path, "int8": path, "report": dict}."""
    from converters.retrieval import RetrievalTrainConfig, export_dual_encoder, train_dual_encoder
    from edge_sdk.demo.seek.dataset import write_caption_dataset

    out = workdir / f"model-{size.key()}"
    report_path = out / "report.json"
    if not report_path.exists():
        data = workdir / f"data-{size.scenes}-{size.image_size}-{size.seed}{'-sep' if size.separated_sizes else ''}"
        manifest = data / "captions.csv"
        if not manifest.exists():
            write_caption_dataset(data, size.scenes, seed=size.seed, image_size=size.image_size,
                                  separated_sizes=size.separated_sizes)
        run = train_dual_encoder(manifest, "image", "caption", spec=_spec(size),
                                 config=RetrievalTrainConfig(epochs=size.epochs, seed=size.seed,
                                                             hard_negative_group=size.hard_negative_group),
                                 val_fraction=0.05, test_fraction=0.05, progress=progress)
        export_dual_encoder(run, out, int8=True)
        report = json.loads(report_path.read_text())
        report["bench_size"] = asdict(size)
        report_path.write_text(json.dumps(report, indent=1))
    report = json.loads(report_path.read_text())
    return {"float32": out / "dual_encoder_float32.tflite", "int8": out / "dual_encoder_int8.tflite", "report": report}


def _spec(size: BenchSize) -> Any:
    from converters.retrieval import DualEncoderSpec

    if size.tower == "wide":
        return DualEncoderSpec(dim=size.dim, cnn_stem_filters=32, cnn_filters=(48, 64, 96), squeeze_channels=24)
    return DualEncoderSpec(dim=size.dim)


def _vector(prediction: Any) -> np.ndarray:
    from edge_sdk.tasks.embed import Embedding

    assert isinstance(prediction.result, Embedding)
    return prediction.result.vector


def _embed_images(bundle: Path, images_rgb: list[np.ndarray]) -> tuple[np.ndarray, float]:
    from edge_sdk.model import Model

    with Model.from_bundle(bundle, signature="embed_image", num_threads=1) as model:
        started = time.perf_counter()
        vectors = np.stack([_vector(model.predict(image=im, color_order="RGB")) for im in images_rgb])
        return vectors, (time.perf_counter() - started) * 1000 / max(1, len(images_rgb))


def _embed_texts(bundle: Path, texts: list[str]) -> tuple[np.ndarray, float]:
    from edge_sdk.model import Model

    with Model.from_bundle(bundle, signature="embed_text", num_threads=1) as model:
        started = time.perf_counter()
        vectors = np.stack([_vector(model.predict(text=t)) for t in texts])
        return vectors, (time.perf_counter() - started) * 1000 / max(1, len(texts))


def evaluate(bundles: dict[str, Any], size: BenchSize) -> dict[str, dict[str, float]]:
    """Figures of each bundle (float32, int8) through edge_sdk on scenes the model never saw."""
    held_out = caption_scenes(HELD_OUT_SCENES, seed=size.seed + 1000, separated_sizes=size.separated_sizes)
    index = caption_scenes(INDEX_FRAMES, seed=size.seed + 2000, separated_sizes=size.separated_sizes)
    continuous = caption_scenes(HELD_OUT_SCENES, seed=size.seed + 1000, separated_sizes=False)
    descriptions = [describe(s) for s in held_out]
    same = np.array(descriptions)[:, None] == np.array(descriptions)[None, :]
    held_images = [render_scene(s, size=size.image_size) for s in held_out]
    index_images = [render_scene(s, size=size.image_size) for s in index]
    facts = [object_facts(s) for s in index]
    rng = np.random.default_rng(size.seed + 3000)
    candidates = list(distinct_queries(rng, PARTIAL_QUERIES * 3))
    truth_all = np.array([[matches(q, f) for f in facts] for q in candidates])
    keep = np.flatnonzero(truth_all.sum(axis=1) >= MIN_MATCHES)[:PARTIAL_QUERIES]
    queries, truth = [candidates[i] for i in keep], truth_all[keep]
    figures: dict[str, dict[str, float]] = {}
    vectors: dict[str, dict[str, np.ndarray]] = {}
    for mode in ("float32", "int8"):
        text_vectors, text_ms = _embed_texts(bundles[mode], descriptions)
        image_vectors, image_ms = _embed_images(bundles[mode], held_images)
        index_vectors, _ = _embed_images(bundles[mode], index_images)
        query_vectors, _ = _embed_texts(bundles[mode], [q.text for q in queries])
        recall = recall_at_k(text_vectors, image_vectors, same, (1, 5))
        figures[mode] = {"t2i_r1": recall[1], "t2i_r5": recall[5],
                         "partial_p10": precision_at_k(query_vectors, index_vectors, truth, 10),
                         "embed_image_ms": image_ms, "embed_text_ms": text_ms,
                         "size_kb": bundles[mode].stat().st_size / 1024}
        vectors[mode] = {"text": text_vectors, "image": image_vectors}
    for kind in ("image", "text"):
        cos = cosine_stats(vectors["float32"][kind], vectors["int8"][kind])
        figures["int8"][f"cos_{kind}_mean"], figures["int8"][f"cos_{kind}_min"] = cos["mean"], cos["min"]
    continuous_texts = [describe(s) for s in continuous]
    text_vectors, _ = _embed_texts(bundles["float32"], continuous_texts)
    image_vectors, _ = _embed_images(bundles["float32"], [render_scene(s, size=size.image_size) for s in continuous])
    same_continuous = np.array(continuous_texts)[:, None] == np.array(continuous_texts)[None, :]
    figures["float32"]["t2i_r1_continuous"] = recall_at_k(text_vectors, image_vectors, same_continuous, (1,))[1]
    figures["queries"] = {"partial": len(queries), "held_out": HELD_OUT_SCENES, "index": INDEX_FRAMES,
                          "distinct_descriptions": len(set(descriptions))}
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=BenchSize.scenes, help="training scenes (each: full + partial)")
    parser.add_argument("--size", type=int, default=BenchSize.image_size, help="image size in pixels")
    parser.add_argument("--epochs", type=int, default=BenchSize.epochs, help="epochs at most (early stopping)")
    parser.add_argument("--dims", default="64", help="embedding sizes to train (e.g. 64,128); the first gives the JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--continuous-sizes", action="store_true",
                        help="caption the classifier's world (radii through the small/large cut), as before issue 11's fix")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--tower", choices=("default", "wide"), default="wide",
                        help="image tower: the spec's default, or wide (stem 32, blocks 48/64/96, squeeze 24)")
    parser.add_argument("--hard-negative-group", type=int, default=BenchSize.hard_negative_group,
                        help="pairs per group of nearest texts in half of each batch (0: random batches only)")
    args = parser.parse_args(argv)
    load_at_start = os.getloadavg()
    rows, results = [], {}
    for dim in [int(d) for d in args.dims.split(",") if d.strip()]:
        size = BenchSize(args.scenes, args.size, args.epochs, dim, args.seed, not args.continuous_sizes, args.tower,
                         args.hard_negative_group)
        started = time.perf_counter()
        bundles = trained_bundles(size, args.workdir, progress=sys.stderr.isatty())
        train = bundles["report"]["train"]
        figures = evaluate(bundles, size)
        results[dim] = (size, bundles, figures, time.perf_counter() - started)
        for mode in ("float32", "int8"):
            f = figures[mode]
            cos = f"{f['cos_image_mean']:.4f}/{f['cos_image_min']:.4f} {f['cos_text_mean']:.4f}/{f['cos_text_min']:.4f}" \
                if mode == "int8" else "-"
            rows.append(f"{dim:>4} {mode:>8} {f['t2i_r1']:7.4f} {f['t2i_r5']:7.4f} {f['partial_p10']:8.4f} "
                        f"{f['embed_image_ms']:7.2f} {f['embed_text_ms']:7.2f} {f['size_kb']:8.1f} "
                        f"{train['train_s']:8.1f} {train['best_epoch']:>3}/{train['epochs_run']:<3} {cos}")
    world = "continuous radii" if args.continuous_sizes else "radii clear of the small/large cut"
    print(f"dual encoder ({args.tower} image tower) on seek captions ({world}): {args.scenes} training scenes at {args.size}px, held-out "
          f"{HELD_OUT_SCENES} scenes, index {INDEX_FRAMES} frames (load at start {load_at_start[0]:.1f})")
    print(" dim     mode  t2i_r1  t2i_r5  part_p10  img_ms  txt_ms  size_kb  train_s  epoch  cos int8 vs float "
          "(image mean/min, text mean/min)")
    print("\n".join(rows))
    print("float32 t2i_r1 on held-out scenes with continuous radii: "
          + ", ".join(f"dim {d} {r[2]['float32']['t2i_r1_continuous']:.4f}" for d, r in results.items()))
    size, bundles, figures, _ = results[next(iter(results))]
    train = bundles["report"]["train"]
    summary = {
        "t2i_r1": round(figures["float32"]["t2i_r1"], 4),
        "t2i_r5": round(figures["float32"]["t2i_r5"], 4),
        "t2i_r1_continuous": round(figures["float32"]["t2i_r1_continuous"], 4),
        "partial_p10": round(figures["float32"]["partial_p10"], 4),
        "int8_t2i_r1": round(figures["int8"]["t2i_r1"], 4),
        "int8_t2i_r5": round(figures["int8"]["t2i_r5"], 4),
        "int8_partial_p10": round(figures["int8"]["partial_p10"], 4),
        "int8_r1_drop": round(figures["float32"]["t2i_r1"] - figures["int8"]["t2i_r1"], 4),
        "int8_cos_image_mean": round(figures["int8"]["cos_image_mean"], 5),
        "int8_cos_text_mean": round(figures["int8"]["cos_text_mean"], 5),
        "embed_dim": size.dim,
        "train_s": round(train["train_s"], 1),
        "embed_image_ms_int8": round(figures["int8"]["embed_image_ms"], 3),
        "embed_text_ms_int8": round(figures["int8"]["embed_text_ms"], 3),
        "other_dims": {str(d): {k: round(v, 4) for k, v in r[2]["float32"].items() if k in ("t2i_r1", "t2i_r5",
                                                                                                "partial_p10")}
                       | {"int8_t2i_r1": round(r[2]["int8"]["t2i_r1"], 4)}
                       for d, r in list(results.items())[1:]},
        "bench_size": asdict(size),
        "bundle_int8": str(bundles["int8"]),
        "queries": figures["queries"],
        "load_at_start": round(load_at_start[0], 2),
        "commit": commit(),
        "versions": versions(),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
