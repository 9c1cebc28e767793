"""Host commands of ``edge-sdk``: data, training, conversion. TensorFlow loads only when one runs.

Registered into the one CLI by :func:`register_host_commands`; each handler returns an exit code
and prints data to stdout, progress and diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register_host_commands"]


def register_host_commands(sub: Any) -> None:
    """Add the host commands (``edge_sdk.commands`` entry point); each maps its own errors to exit codes."""
    before = set(sub.choices)
    _add_host_commands(sub)
    for name in set(sub.choices) - before:
        func = sub.choices[name].get_default("func")
        sub.choices[name].set_defaults(func=_translating(func, name))


def _translating(func: Any, name: str) -> Any:
    """DataError/SpecError and a missing extra (TensorFlow) -> 2, any other ConverterError -> 1, with a
    one-line cause on stderr."""
    def run(args: argparse.Namespace) -> int:
        from converters.errors import ConverterError, DataError, SpecError

        try:
            return int(func(args))
        except ConverterError as exc:
            print(f"edge-sdk {name}: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, (DataError, SpecError)) else 1
        except ImportError as exc:  # TensorFlow (or pandas...) missing: the one-line message of the extras
            from edge_sdk._lazy import missing_dependency

            missing = missing_dependency(exc, f"edge-sdk {name}")
            if missing is None:
                raise
            print(f"edge-sdk {name}: {missing}", file=sys.stderr)
            return 2
    return run


def _add_host_commands(sub: Any) -> None:
    data = sub.add_parser("seek-data", help="[host] generate a seek dataset (images + manifest.csv)")
    data.add_argument("--out", "-o", required=True, help="output folder")
    data.add_argument("--samples", type=int, default=16000, help="number of samples; default %(default)s")
    data.add_argument("--seed", type=int, default=0, help="random seed of the generated scenes")
    data.add_argument("--size", type=int, default=64, help="image size in pixels")
    data.set_defaults(func=_cmd_seek_data)

    clip = sub.add_parser("seek-clip", help="[host] render a seek video with command and sensor traces")
    clip.add_argument("out", help="video path (.mp4 or .avi)")
    clip.add_argument("--seconds", type=float, default=30.0, help="length of the video; default %(default)s")
    clip.add_argument("--fps", type=float, default=15.0, help="frame rate; default %(default)s")
    clip.add_argument("--size", type=int, default=192, help="frame size in pixels (square); default %(default)s")
    clip.add_argument("--seed", type=int, default=0, help="random seed of the scene and traces")
    clip.set_defaults(func=_cmd_seek_clip)

    train = sub.add_parser("train", help="[host] train a fusion model from a manifest (CSV, JSONL, Parquet)")
    train.add_argument("--manifest", required=True, help="the dataset manifest (CSV, JSONL or Parquet)")
    train.add_argument("--out", "-o", required=True, help="folder for the Keras model and training report")
    _model_args(train)
    train.set_defaults(func=_cmd_train)

    convert = sub.add_parser("convert", help="[host] convert a trained model, check parity, write bundles")
    convert.add_argument("model_dir", help="folder written by `edge-sdk train`")
    convert.add_argument("--manifest", required=True, help="the training manifest (calibration and test split)")
    convert.add_argument("--out", "-o", required=True, help="folder for bundles and the HTML report")
    convert.add_argument("--modes", default="float32,float16,dynamic,int8,int8_io_int8,int8_io_uint8",
                         help="comma-separated quantization modes, one bundle each; default %(default)s")
    convert.add_argument("--name", default="model", help="model name in the manifest")
    convert.add_argument("--seed", type=int, default=0, help="the split seed used for training")
    convert.set_defaults(func=_cmd_convert)

    zoo = sub.add_parser("build-zoo", help="[host] rebuild the test zoo of small TFLite models (tests/fixtures/zoo)")
    zoo.add_argument("out_dir", type=Path, help="folder for the .tflite files and zoo.json")
    zoo.add_argument("--models", nargs="+", help="build only these (default: all)")
    zoo.add_argument("--seed", type=int, default=0, help="seed of the models' weights; default %(default)s")
    zoo.set_defaults(func=_cmd_build_zoo)

    bundle = sub.add_parser("build-seek-bundle", help="[host] rebuild the seek int8 bundle shipped with edge_sdk")
    bundle.add_argument("--out", "-o", default="edge_sdk/data/seek_int8.tflite", help="the bundle to write; default %(default)s")
    bundle.add_argument("--workdir", default="work/seek", help="dataset, model and bundles go here; default %(default)s")
    bundle.add_argument("--samples", type=int, default=20000, help="seek dataset size; default %(default)s")
    bundle.add_argument("--epochs", type=int, default=40, help="training epochs at most; default %(default)s")
    bundle.add_argument("--seed", type=int, default=0, help="seed of the dataset, split and training")
    bundle.set_defaults(func=_cmd_build_seek_bundle)

    from converters.retrieval.cli import add_retrieval_commands

    add_retrieval_commands(sub)


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fusion", choices=("attention", "concat", "weighted"), default="attention",
                        help="how the modalities are combined; default %(default)s")
    parser.add_argument("--modalities", default="image,text,sensor", help="comma-separated subset")
    parser.add_argument("--rnn", choices=("lstm", "gru"), default="lstm", help="text encoder cell; default %(default)s")
    parser.add_argument("--cnn-block", choices=("separable", "conv"), default="separable",
                        help="image encoder block: depthwise-separable or plain convolutions; default %(default)s")
    parser.add_argument("--epochs", type=int, default=40, help="training epochs at most; default %(default)s")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per step; default %(default)s")
    parser.add_argument("--learning-rate", type=float, default=3e-3,
                        help="peak learning rate (warm-up, then cosine decay); default %(default)s")
    parser.add_argument("--patience", type=int, default=8,
                        help="epochs without a validation accuracy gain before stopping; default %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the training")
    parser.add_argument("--labels", help="comma-separated label order (default: sorted training labels)")
    parser.add_argument("--hflip-swap", default="", help="label pairs a horizontal flip swaps, e.g. left:right")


def _spec_and_config(args: argparse.Namespace) -> tuple[Any, Any]:
    from converters.spec import ModelSpec
    from converters.train import TrainConfig

    spec = ModelSpec(modalities=tuple(m.strip() for m in args.modalities.split(",") if m.strip()),
                     fusion=args.fusion, rnn=args.rnn, cnn_block=args.cnn_block)
    pairs = tuple(tuple(pair.split(":", 1)) for pair in args.hflip_swap.split(",") if ":" in pair)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                         patience=args.patience, seed=args.seed, hflip_swap=pairs)
    return spec, config


def _cmd_seek_data(args: argparse.Namespace) -> int:
    from converters.workflow import ensure_seek_dataset

    manifest = ensure_seek_dataset(args.out, args.samples, args.seed, args.size)
    print(manifest)
    return 0


def _cmd_seek_clip(args: argparse.Namespace) -> int:
    from edge_sdk.demo.seek import SeekClip, write_clip

    paths = write_clip(args.out, SeekClip(seconds=args.seconds, fps=args.fps, size=args.size, seed=args.seed))
    print(json.dumps({k: str(v) for k, v in vars(paths).items()}))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from converters.workflow import load_dataset, split_tensors, test_accuracy, train_on_dataset

    spec, config = _spec_and_config(args)
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    dataset = load_dataset(args.manifest, labels=labels, seed=args.seed)
    print(dataset.manifest.report.summary(), file=sys.stderr)
    tensors = split_tensors(dataset)
    trained = train_on_dataset(dataset, spec, config, name=spec.fusion, tensors=tensors)
    out = trained.save(args.out)
    print(json.dumps({"model_dir": str(out), "best_epoch": trained.best_epoch,
                      "val_accuracy": round(trained.best_val_accuracy, 4),
                      "test_accuracy": round(test_accuracy(trained, tensors["test"]), 4),
                      "train_s": round(trained.train_s, 1)}))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from converters.report import format_table, write_html_report
    from converters.train import TrainedModel
    from converters.workflow import export_bundles, load_dataset, split_tensors

    trained = TrainedModel.load(args.model_dir)
    dataset = load_dataset(args.manifest, labels=trained.preprocessing.labels, seed=args.seed)
    tensors = split_tensors(dataset)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    outcomes = export_bundles(trained, dataset, tensors, args.out, modes, model_name=args.name)
    reports: dict[str, list[Any]] = {trained.spec.fusion: [o.report for o in outcomes]}
    print(format_table(reports))
    html = write_html_report(Path(args.out) / "report.html", reports)
    print(f"bundles: {', '.join(str(o.bundle_path) for o in outcomes)}\nreport: {html}", file=sys.stderr)
    return 0


def _cmd_build_zoo(args: argparse.Namespace) -> int:
    from converters.zoo import MODELS, build_zoo

    unknown = sorted(set(args.models or ()) - set(MODELS))
    if unknown:
        from converters.errors import SpecError

        raise SpecError(f"--models: unknown model {unknown[0]!r}. Expected some of: {', '.join(MODELS)}")
    for entry in build_zoo(args.out_dir, args.models or list(MODELS), args.seed):
        print(f"{entry.file:32s} {entry.size_bytes:8d} B  {entry.task:14s} {', '.join(entry.signatures) or '(none)'}")
    return 0


def _cmd_build_seek_bundle(args: argparse.Namespace) -> int:
    import dataclasses
    import shutil

    from converters.spec import ModelSpec
    from converters.workflow import (
        SEEK_TRAIN_CONFIG,
        ensure_seek_dataset,
        export_bundles,
        load_dataset,
        split_tensors,
        train_on_dataset,
    )
    from edge_sdk.demo.seek import LABELS

    workdir = Path(args.workdir)
    manifest = ensure_seek_dataset(workdir / "data", args.samples, args.seed)
    dataset = load_dataset(manifest, labels=LABELS, seed=args.seed)
    tensors = split_tensors(dataset)
    config = dataclasses.replace(SEEK_TRAIN_CONFIG, epochs=args.epochs, seed=args.seed)
    trained = train_on_dataset(dataset, ModelSpec(fusion="attention"), config, name="attention", tensors=tensors)
    trained.save(workdir / "attention")
    (outcome,) = export_bundles(trained, dataset, tensors, workdir / "bundles", ("int8_io_uint8",))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(outcome.bundle_path, args.out)
    report = outcome.report
    print(json.dumps({"bundle": args.out, "keras_acc": report.keras_accuracy,
                      "int8_acc": report.tflite_accuracy, "agreement": report.top1_agreement,
                      "size_bytes": report.size_bytes}))
    return 0
