"""Benchmark of the host toolchain on the seek world (issue: host toolchain).

Trains attention, concat and weighted fusion plus image-only and text-only baselines on one seeded
seek dataset, converts each fusion model to float32 and full int8 (uint8 I/O), and compares them
with Keras on the held-out test split. Prints a table, writes an HTML report with confusion
matrices, and prints one JSON object as its last line.

    .venv/bin/python bench/toolchain.py [--samples 20000] [--epochs 40] [--workdir work/bench-toolchain]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from converters.report import format_table, write_html_report
from converters.spec import ModelSpec
from converters.workflow import (
    SEEK_TRAIN_CONFIG,
    ensure_seek_dataset,
    export_bundles,
    load_dataset,
    split_tensors,
    test_accuracy,
    train_on_dataset,
)
from edge_sdk.demo.seek import LABELS

FUSIONS = ("attention", "concat", "weighted")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20000, help="seek samples (80/10/10 split)")
    parser.add_argument("--epochs", type=int, default=40, help="epochs for the attention model")
    parser.add_argument("--baseline-epochs", type=int, default=15, help="epochs for the other models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default="work/bench-toolchain")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    work = Path(args.workdir)

    manifest = ensure_seek_dataset(work / "data", args.samples, args.seed)
    dataset = load_dataset(manifest, labels=LABELS, seed=args.seed)
    tensors = split_tensors(dataset)
    print(f"data: {dataset.split.sizes()} from {manifest}", file=sys.stderr)

    runs = {
        "attention": (ModelSpec(fusion="attention"), args.epochs),
        "concat": (ModelSpec(fusion="concat"), args.baseline_epochs),
        "weighted": (ModelSpec(fusion="weighted"), args.baseline_epochs),
        "image_only": (ModelSpec(fusion="concat", modalities=("image",)), args.baseline_epochs),
        "text_only": (ModelSpec(fusion="concat", modalities=("text",)), args.baseline_epochs),
    }
    accuracy: dict[str, float] = {}
    train_s: dict[str, float] = {}
    epochs_run: dict[str, int] = {}
    reports: dict[str, list] = {}
    int8: dict[str, object] = {}
    float32: dict[str, object] = {}
    for name, (spec, epochs) in runs.items():
        config = dataclasses.replace(SEEK_TRAIN_CONFIG, epochs=epochs, seed=args.seed,
                                     patience=max(6, epochs // 4), target_accuracy=0.999)
        trained = train_on_dataset(dataset, spec, config, name=name, tensors=tensors)
        accuracy[name] = test_accuracy(trained, tensors["test"])
        train_s[name] = trained.train_s
        epochs_run[name] = len(trained.history)
        print(f"{name}: test accuracy {accuracy[name]:.4f} after {epochs_run[name]} epochs in {trained.train_s:.0f} s",
              file=sys.stderr)
        if name in FUSIONS:
            trained.save(work / "models" / name)
            outcomes = export_bundles(trained, dataset, tensors, work / "bundles", ("float32", "int8_io_uint8"),
                                      model_name="seek", golden_count=4)
            reports[name] = [o.report for o in outcomes]
            float32[name], int8[name] = outcomes[0].report, outcomes[1].report

    print(format_table(reports))
    html = write_html_report(work / "report.html", reports, title="seek toolchain benchmark")
    print(f"\nreport: {html}", file=sys.stderr)
    att8, att32 = int8["attention"], float32["attention"]
    summary = {
        "attention_keras_acc": round(accuracy["attention"], 4),
        "attention_int8_acc": round(att8.tflite_accuracy, 4),  # type: ignore[attr-defined]
        "attention_int8_agreement": round(att8.top1_agreement, 4),  # type: ignore[attr-defined]
        "attention_int8_size_ratio": round(att8.size_bytes / att32.size_bytes, 3),  # type: ignore[attr-defined]
        "concat_keras_acc": round(accuracy["concat"], 4),
        "weighted_keras_acc": round(accuracy["weighted"], 4),
        "image_only_acc": round(accuracy["image_only"], 4),
        "text_only_acc": round(accuracy["text_only"], 4),
        "builtin_ops_only": all(r.builtin_only for r in int8.values()),  # type: ignore[attr-defined]
        "int8_float_ops": {k: r.float_ops for k, r in int8.items()},  # type: ignore[attr-defined]
        "attention_int8_latency_ms": att8.latency_ms,  # type: ignore[attr-defined]
        "epochs": epochs_run,
        "train_s": round(sum(train_s.values()), 1),
        "train_s_by_model": {k: round(v, 1) for k, v in train_s.items()},
        "test_samples": len(tensors["test"].labels),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bench_s": round(time.perf_counter() - started, 1),
    }
    rows = [("attention Keras / int8 acc", f"{summary['attention_keras_acc']} / {summary['attention_int8_acc']}"),
            ("attention int8 agreement", summary["attention_int8_agreement"]),
            ("attention int8 / float32 size", summary["attention_int8_size_ratio"]),
            ("concat / weighted acc", f"{summary['concat_keras_acc']} / {summary['weighted_keras_acc']}"),
            ("image-only / text-only acc", f"{summary['image_only_acc']} / {summary['text_only_acc']}"),
            ("builtin ops only (int8)", summary["builtin_ops_only"]),
            ("train s / bench s", f"{summary['train_s']} / {summary['bench_s']}"),
            ("peak RSS MB", summary["peak_rss_mb"])]
    print("\n" + "\n".join(f"{k:<32} {v}" for k, v in rows))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
