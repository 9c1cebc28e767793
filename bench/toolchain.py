"""Benchmark of the host toolchain on the seek world (issue: host toolchain).

Trains attention, concat and weighted fusion plus image-only and text-only baselines on one seeded
seek dataset, converts each fusion model to float32 and full int8 (uint8 I/O), and compares them
with Keras on the held-out test split. Prints a table, writes an HTML report with confusion
matrices, and prints one JSON object as its last line.

Then a dataset that is not the seek world, the way a user brings their own (issue 16): scikit-learn's
1,797 digit scans as PNGs, each asked two yes/no questions ("does this scan show a seven"), trained
from a config by ``edge-sdk train --config`` and converted by ``edge-sdk convert`` in their own
processes, as a user runs them. The split groups rows by scan, so no scan is on both sides
(``own_data_group_overlap`` counts those that are). The JSON also says which commit and package
versions produced its figures.

Last, the demo video against stills (bench/_video_gap.py): the shipped seek bundle and the bench's
attention int8 bundle answer every frame of ``make demo``'s clip as training renders it, as the
video renders it, after the codec and as the runtime decodes it; the ``video_*`` keys count the
misses by distance to a zone border and by shapes touching the target.

    .venv/bin/python bench/toolchain.py [--samples 20000] [--epochs 40] [--workdir work/bench-toolchain]

``--attention-only`` trains and converts the attention model alone (about 11 minutes on 2 cores) and
prints its ``attention_*`` keys with the provenance: the quick check of the int8 agreement figure.
The provenance names the CPU's vector ISA, because the same seed trains different weights where
oneDNN picks other kernels (AVX-512 or AVX2): compare figures from machines that match.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_video_gap.py beside this file
from _video_gap import video_gap

FUSIONS = ("attention", "concat", "weighted")
REPO = Path(__file__).resolve().parent.parent
SHIPPED_BUNDLE = REPO / "edge_sdk" / "data" / "seek_int8.tflite"
OWN_DATA_CONFIG = """\
# The bench's own-data config: what docs/training.md shows a user.
manifest: data/questions.csv
label: answer
inputs:
  image: {column: scan, size: [8, 8], color_order: RGB}
  text: {column: question, max_length: null, lowercase: true}
model: {preset: pi-base, fusion: concat, rnn: lstm}   # concat: int8 agrees with Keras on 0.997 here (attention: 0.96)
training: {epochs: 30, batch_size: 64, learning_rate: 0.003, patience: 8, seed: 0, deterministic: true}
cleaning: {missing_image: fail, unreadable_image: fail}
split: {val: 0.1, test: 0.1, group: auto}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20000, help="seek samples (80/10/10 split)")
    parser.add_argument("--epochs", type=int, default=40, help="epochs for the attention model")
    parser.add_argument("--baseline-epochs", type=int, default=15, help="epochs for the other models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default="work/bench-toolchain")
    parser.add_argument("--skip-seek", action="store_true", help="only the own-data part (its keys alone)")
    parser.add_argument("--attention-only", action="store_true",
                        help="only the attention model: train, convert, its attention_* keys and provenance")
    args = parser.parse_args(argv)
    if args.skip_seek:
        summary = {**own_data(Path(args.workdir) / "own-data"), **provenance()}
        print(json.dumps(summary))
        return 0
    started = time.perf_counter()
    work = Path(args.workdir)

    manifest = ensure_seek_dataset(work / "data", args.samples, args.seed)
    dataset = load_dataset(manifest, labels=LABELS, seed=args.seed)
    tensors = split_tensors(dataset)
    print(f"data: {dataset.split.sizes()} from {manifest}", file=sys.stderr)

    runs = {"attention": (ModelSpec(fusion="attention"), args.epochs)}
    if not args.attention_only:
        runs |= {
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
    int8_paths: dict[str, Path] = {}
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
            int8_paths[name] = outcomes[1].bundle_path

    print(format_table(reports))
    html = write_html_report(work / "report.html", reports, title="seek toolchain benchmark")
    print(f"\nreport: {html}", file=sys.stderr)
    att8, att32 = int8["attention"], float32["attention"]
    summary = {
        "attention_keras_acc": round(accuracy["attention"], 4),
        "attention_int8_acc": round(att8.tflite_accuracy, 4),  # type: ignore[attr-defined]
        "attention_int8_agreement": round(att8.top1_agreement, 4),  # type: ignore[attr-defined]
        "attention_int8_size_ratio": round(att8.size_bytes / att32.size_bytes, 3),  # type: ignore[attr-defined]
        "attention_int8_latency_ms": att8.latency_ms,  # type: ignore[attr-defined]
    }
    if args.attention_only:
        summary |= {"epochs": epochs_run, "train_s": round(train_s["attention"], 1), **provenance(),
                    "bench_s": round(time.perf_counter() - started, 1)}
        print(json.dumps(summary))
        return 0
    summary |= {
        "concat_keras_acc": round(accuracy["concat"], 4),
        "weighted_keras_acc": round(accuracy["weighted"], 4),
        "image_only_acc": round(accuracy["image_only"], 4),
        "text_only_acc": round(accuracy["text_only"], 4),
        "builtin_ops_only": all(r.builtin_only for r in int8.values()),  # type: ignore[attr-defined]
        "int8_float_ops": {k: r.float_ops for k, r in int8.items()},  # type: ignore[attr-defined]
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
    video = video_gap(SHIPPED_BUNDLE, work / "video-gap")
    video["attention_int8_video_acc"] = video_gap(int8_paths["attention"], work / "video-gap-bench")["video_acc"]
    rows += [("shipped: video / stills acc", f"{video['video_acc']} / {video['stills_acc']}"),
             ("video rendered / codec / train-rendered",
              f"{video['video_stills_acc']} / {video['video_codec_stills_acc']} / {video['video_training_render_acc']}"),
             ("misses: border<1/<2.6px/touching/other", " / ".join(str(n) for n in (
                 *video["video_border_misses"].values(), video["video_touching_misses"], video["video_other_misses"]))),
             ("bench attention int8 video acc", video["attention_int8_video_acc"])]
    own = own_data(work / "own-data")
    summary = {**summary, **video, **own, **provenance()}
    summary["bench_s"] = round(time.perf_counter() - started, 1)
    rows += [("own data (digit questions) int8 acc", own["own_data_int8_acc"]),
             ("own data groups train / test / overlap",
              f"{own['own_data_groups_train']} / {own['own_data_groups_test']} / {own['own_data_group_overlap']}"),
             ("own data train s", own["own_data_train_s"])]
    print("\n" + "\n".join(f"{k:<40} {v}" for k, v in rows))
    print(json.dumps(summary))
    return 0


def own_data(work: Path) -> dict[str, object]:
    """Digit questions trained and converted through the CLI from a config, in processes of their own."""
    sys.path.insert(0, str(REPO / "tests" / "converters"))
    from owndata import write_digit_questions  # the tests' writer: the same data the tests train on

    from converters.trainconfig import saved_training_config
    from converters.workflow import configured_dataset

    manifest = work / "data" / "questions.csv"
    if not manifest.is_file():
        write_digit_questions(work / "data")
    config = work / "train.yaml"
    config.write_text(OWN_DATA_CONFIG)
    trained = json.loads(_cli("train", "--config", str(config), "-o", str(work / "model")).splitlines()[-1])
    _cli("convert", str(work / "model"), "-o", str(work / "bundles"), "--modes", "float32,int8_io_uint8")
    parity = json.loads((work / "bundles" / "parity.json").read_text())
    saved = saved_training_config(work / "model")
    assert saved is not None
    dataset = configured_dataset(saved, progress=False)
    split, scans = dataset.split, dataset.manifest.frame["image"]
    overlap = set(scans.loc[split.train]) & set(scans.loc[split.test])
    print(f"own data: {trained} -> int8 acc {parity['int8_io_uint8']['tflite_accuracy']:.4f}, report "
          f"{work / 'bundles' / 'report.html'}", file=sys.stderr)
    return {
        "own_data_keras_acc": trained["test_accuracy"],
        "own_data_int8_acc": round(parity["int8_io_uint8"]["tflite_accuracy"], 4),
        "own_data_int8_agreement": round(parity["int8_io_uint8"]["top1_agreement"], 4),
        "own_data_rows": trained["split"],
        "own_data_groups_train": trained["groups"]["train"],
        "own_data_groups_test": trained["groups"]["test"],
        "own_data_group_overlap": len(overlap),
        "own_data_train_s": trained["train_s"],
        "own_data_epochs": trained["best_epoch"],
    }


def _cli(*argv: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "edge_sdk.cli", *argv], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"edge-sdk {argv[0]} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.strip()


def provenance() -> dict[str, object]:
    """The commit (with -dirty for uncommitted changes) and versions behind the figures."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                                  check=False).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "-dirty"
    versions = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "numpy", "ai-edge-litert", "opencv-python-headless", "scikit-learn"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    return {"commit": commit, "versions": versions, "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            "cpu": cpu_features()}


def cpu_features() -> dict[str, str]:
    """The CPU's widest vector ISA and the oneDNN switches: seeded training gives bit-identical weights
    run to run on one machine, but oneDNN picks its kernels (AVX-512 or AVX2) by the CPU, so another
    machine rounds differently and trains another model from the same seed (issue 16)."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    isa = next((name for name in ("avx512f", "avx2", "avx") if name in flags), "unknown")
    return {"isa": isa, "avx512_vnni": str("avx512_vnni" in flags).lower(),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (on)"),
            "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA", "unset")}


if __name__ == "__main__":
    sys.exit(main())
