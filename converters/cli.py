"""Host commands of ``edge-sdk``: data, training, conversion. TensorFlow loads only when one runs.

Registered into the one CLI by :func:`register_host_commands`; each handler returns an exit code
and prints data to stdout, progress and diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

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
    train.add_argument("--config", "-c", help="training config (YAML; `edge-sdk init-train` writes one); "
                       "flags below override it")
    train.add_argument("--manifest", help="the dataset manifest (CSV, JSONL or Parquet); default: the config's")
    train.add_argument("--out", "-o", required=True, help="folder for the Keras model and training report")
    _model_args(train)
    train.set_defaults(func=_cmd_train)

    init = sub.add_parser("init-train", help="[host] write a starting training config from a manifest's columns")
    init.add_argument("manifest", help="the dataset manifest (CSV, JSONL or Parquet)")
    init.add_argument("--out", "-o", default="-", help="config file to write; default: stdout")
    init.add_argument("--force", action="store_true", help="overwrite an existing config file")
    init.set_defaults(func=_cmd_init_train)

    convert = sub.add_parser("convert", help="[host] convert a trained model, check parity, write bundles")
    convert.add_argument("model_dir", help="folder written by `edge-sdk train`")
    convert.add_argument("--manifest", help="the training manifest (calibration and test split); default: the one "
                         "the model was trained on")
    convert.add_argument("--out", "-o", required=True, help="folder for bundles and the HTML report")
    convert.add_argument("--modes", default="float32,float16,dynamic,int8,int8_io_int8,int8_io_uint8",
                         help="comma-separated quantization modes, one bundle each; default %(default)s")
    convert.add_argument("--name", help="model name in the bundle manifest; default: the training config's")
    convert.add_argument("--seed", type=int, help="the split seed; default: the one used for training")
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
    # The defaults are the shipped bundle's recipe (docs/training.md), so `edge-sdk demo --rebuild-bundle` and
    # `make seek-bundle` build what ships; --touching 0 --zone-margin 0.04 draws the seek world's default data
    # (the older bundle's). ensure_seek_dataset keys its cache on both, so a workdir never mixes the two.
    bundle.add_argument("--epochs", type=int, default=80, help="training epochs at most; default %(default)s")
    bundle.add_argument("--seed", type=int, default=0, help="seed of the dataset, split and training")
    bundle.add_argument("--touching", type=float, default=0.3,
                        help="share of scenes with a shape against the target (the demo video has them); "
                             "default %(default)s")
    bundle.add_argument("--zone-margin", type=float, default=0.0,
                        help="how close (fraction of the width) target centres may come to a zone border; default "
                             "%(default)s (the borders; the seek world's own is 0.04)")
    bundle.set_defaults(func=_cmd_build_seek_bundle)

    from converters.retrieval.cli import add_retrieval_commands

    add_retrieval_commands(sub)


def _model_args(parser: argparse.ArgumentParser) -> None:
    # Defaults are None so a flag given overrides the config and one left out does not; without a
    # config the seek defaults (in _flags_config) apply.
    parser.add_argument("--fusion", choices=("attention", "concat", "weighted"),
                        help="how the modalities are combined; default attention with image and text, else concat")
    parser.add_argument("--modalities", help="comma-separated subset of image,text,sensor (no config only); "
                        "default: all three")
    parser.add_argument("--rnn", choices=("lstm", "gru"), help="text encoder cell; default lstm")
    parser.add_argument("--cnn-block", choices=("separable", "conv"),
                        help="image encoder block: depthwise-separable or plain convolutions; default separable")
    parser.add_argument("--epochs", type=int, help="training epochs at most; default 40")
    parser.add_argument("--batch-size", type=int, help="samples per step; default 64")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate (warm-up, then cosine decay); default 3e-3")
    parser.add_argument("--patience", type=int, help="epochs without a validation accuracy gain before stopping; default 8")
    parser.add_argument("--seed", type=int, help="seed of the split and the training; default 0")
    parser.add_argument("--labels", help="comma-separated label order (default: sorted training labels)")
    parser.add_argument("--hflip-swap", help="label pairs a horizontal flip swaps, e.g. left:right")
    parser.add_argument("--label-column", help="manifest column of the label (no config only); default label")
    parser.add_argument("--image-size", help="model image WIDTHxHEIGHT (no config only); default: the first image's")
    parser.add_argument("--drop", action="append", default=[], metavar="PROBLEM",
                        help="drop rows with this problem instead of failing: missing_image, unreadable_image, "
                             "empty_text, bad_sensor, unknown_label or all; repeatable")
    parser.add_argument("--preset", choices=("pi-tiny", "pi-small", "pi-base"),
                        help="architecture preset sized for a Pi, strides adapted to the image size; default: the "
                             "config's, else the seek model's sizes")
    parser.add_argument("--group", help="split group: a column whose rows stay on one side, auto or none")


def _training_config(args: argparse.Namespace) -> Any:
    """The config file with the flags given laid over it, or the seek defaults with the flags."""
    import dataclasses

    from converters.manifest import PROBLEM_KINDS
    from converters.trainconfig import load_training_config

    config = load_training_config(args.config) if args.config else _flags_config(args)
    training = {k: getattr(args, k) for k in ("epochs", "batch_size", "learning_rate", "patience", "seed")
                if getattr(args, k) is not None}
    if args.hflip_swap is not None:
        training["hflip_swap"] = tuple(tuple(p.split(":", 1)) for p in args.hflip_swap.split(",") if ":" in p)
    model = {k: getattr(args, k) for k in ("fusion", "rnn", "cnn_block", "preset") if getattr(args, k) is not None}
    drops = {kind for item in args.drop for kind in (PROBLEM_KINDS if item == "all" else item.split(","))}
    unknown = sorted(drops - set(PROBLEM_KINDS))
    if unknown:
        from converters.errors import SpecError

        raise SpecError(f"--drop: unknown problem {unknown[0]!r}. Expected one of: {', '.join(PROBLEM_KINDS)}, all")
    replaced = dataclasses.replace(
        config,
        manifest=args.manifest or config.manifest,
        labels=tuple(x.strip() for x in args.labels.split(",")) if args.labels else config.labels,
        training=dataclasses.replace(config.training, **training),
        model=dataclasses.replace(config.model, **model),
        cleaning=dataclasses.replace(config.cleaning, **{kind: "drop" for kind in drops}),
        split=dataclasses.replace(config.split, group=args.group) if args.group else config.split,
    )
    return replaced


def _flags_config(args: argparse.Namespace) -> Any:
    """No config file: the seek columns of the chosen modalities and the seek model's sizes."""
    from converters.errors import SpecError
    from converters.inittrain import first_image_size
    from converters.manifest import ColumnMap
    from converters.trainconfig import (
        ImageInput,
        InputsSection,
        ModelSection,
        SensorInput,
        TextInput,
        TrainingConfig,
        TrainingSection,
    )

    if not args.manifest:
        raise SpecError("train needs --manifest or a --config that names one")
    modalities = tuple(m.strip() for m in (args.modalities or "image,text,sensor").split(",") if m.strip())
    unknown = [m for m in modalities if m not in ("image", "text", "sensor")]
    if unknown or not modalities:
        raise SpecError(f"--modalities: expected a comma-separated subset of image,text,sensor. Got: {args.modalities!r}")
    columns = ColumnMap.for_modalities(modalities)
    image = None
    if columns.image is not None:
        if args.image_size:
            try:
                width, height = (int(v) for v in args.image_size.lower().split("x"))
            except ValueError:
                raise SpecError(f"--image-size: expected WIDTHxHEIGHT, e.g. 64x64. Got: {args.image_size!r}") from None
        else:
            width, height = first_image_size(args.manifest, columns.image)
            print(f"image size {width}x{height} from the first image (--image-size or a config chooses it)",
                  file=sys.stderr)
        image = ImageInput(column=columns.image, size=(width, height))
    text = TextInput(column=columns.text) if columns.text else None
    sensors = tuple(SensorInput(column=c, unit=u) for c, u in zip(columns.sensors, columns.sensor_units, strict=True))
    fusion: Literal["attention", "concat"] = "attention" if {"image", "text"} <= set(modalities) else "concat"
    return TrainingConfig(inputs=InputsSection(image=image, text=text, sensors=sensors),
                          label=args.label_column or columns.label, name="model",
                          model=ModelSection(preset=None, fusion=fusion),
                          # the rules edge-sdk train has always had: the same seed gives the same seek model
                          training=TrainingSection(tie_break="first", deterministic=False))


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
    from converters.workflow import configured_dataset, split_tensors, test_accuracy, train_from_config

    config = _training_config(args)
    dataset = configured_dataset(config)
    print(dataset.manifest.report.summary(), file=sys.stderr)
    print(dataset.split.summary(), file=sys.stderr)
    tensors = split_tensors(dataset)
    trained = train_from_config(config, dataset, tensors=tensors)
    out = trained.save(args.out)
    config.save(out)
    print(json.dumps({"model_dir": str(out), "best_epoch": trained.best_epoch,
                      "val_accuracy": round(trained.best_val_accuracy, 4),
                      "test_accuracy": round(test_accuracy(trained, tensors["test"]), 4),
                      "train_s": round(trained.train_s, 1), "split": dataset.split.sizes(),
                      "groups": dataset.split.group_counts}))
    return 0


def _cmd_init_train(args: argparse.Namespace) -> int:
    from converters.errors import SpecError
    from converters.inittrain import init_config_text

    if args.out == "-":
        sys.stdout.write(init_config_text(args.manifest, relative_to=Path.cwd()))
        return 0
    target = Path(args.out)
    if target.exists() and not args.force:
        raise SpecError(f"{target} exists. Expected a new file (or --force to overwrite)")
    text = init_config_text(args.manifest, relative_to=target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(target)
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    import dataclasses

    from converters.report import format_table, write_html_report
    from converters.train import TrainedModel
    from converters.trainconfig import legacy_training_config, saved_training_config
    from converters.workflow import configured_dataset, export_bundles, split_tensors

    trained = TrainedModel.load(args.model_dir)
    config = saved_training_config(args.model_dir) or legacy_training_config(trained, args.manifest)
    if args.seed is not None:
        config = dataclasses.replace(config, split=dataclasses.replace(config.split, seed=args.seed))
    dataset = configured_dataset(config, args.manifest, preprocessing=trained.preprocessing)
    tensors = split_tensors(dataset)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    outcomes = export_bundles(trained, dataset, tensors, args.out, modes, model_name=args.name or config.name)
    reports: dict[str, list[Any]] = {trained.spec.fusion: [o.report for o in outcomes]}
    print(format_table(reports))
    from converters.training_report import summarize_training, training_sections

    sections = training_sections(summarize_training(trained, dataset, tensors))
    html = write_html_report(Path(args.out) / "report.html", reports, title=f"{config.name}: conversion report",
                             training_html=sections)
    (Path(args.out) / "parity.json").write_text(json.dumps({o.mode: o.report.to_dict() for o in outcomes}, indent=1))
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
    manifest = ensure_seek_dataset(workdir / "data", args.samples, args.seed, touching=args.touching,
                                   zone_margin=args.zone_margin)
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
