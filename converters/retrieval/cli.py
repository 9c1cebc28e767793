"""``edge-sdk train-retrieval``: a dual-encoder bundle from any (image, text) manifest.

Registered by :mod:`converters.cli` with the other host commands (which maps DataError/SpecError to
exit code 2 and other converter errors to 1, with a one-line cause); prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_retrieval_commands"]


def add_retrieval_commands(sub: Any) -> None:
    train = sub.add_parser("train-retrieval", help="[host] train a dual encoder (image, text) and export its bundle")
    train.add_argument("--manifest", required=True, help="pairs manifest: CSV, JSONL or Parquet")
    train.add_argument("--image-column", default="image", help="column of image paths; default %(default)s")
    train.add_argument("--text-column", default="caption", help="column of texts; default %(default)s")
    train.add_argument("--out", "-o", required=True, help="folder for the bundles, Keras towers and report.json")
    train.add_argument("--int8", action="store_true", help="also write the full-int8 bundle")
    train.add_argument("--epochs", type=int, default=30, help="training epochs at most; default %(default)s")
    train.add_argument("--dim", type=int, default=128, help="embedding dimensions; default %(default)s")
    train.add_argument("--batch-size", type=int, default=128, help="pairs per contrastive batch; default %(default)s")
    train.add_argument("--learning-rate", type=float, default=2e-3, help="peak learning rate; default %(default)s")
    train.add_argument("--patience", type=int, default=5,
                       help="epochs without a validation recall@1 gain before stopping; default %(default)s")
    train.add_argument("--hard-negatives", type=int, default=0, metavar="GROUP",
                       help="put half of each batch in groups of GROUP pairs with the nearest texts (e.g. 4); "
                            "default %(default)s: random batches")
    train.add_argument("--image-size", type=int, help="square input size in pixels (default: the first image's size)")
    train.add_argument("--max-text-length", type=int, help="words per text at most (default: the longest)")
    train.add_argument("--drop-bad-rows", action="store_true", help="drop rows with empty text or a missing image")
    train.add_argument("--tiny", action="store_true", help="the tiny towers of the tests (seconds to train)")
    train.add_argument("--name", default="dual_encoder", help="model name, and bundle file prefix")
    train.add_argument("--seed", type=int, default=0, help="seed of the split and the training")
    train.set_defaults(func=_cmd_train_retrieval)


def _cmd_train_retrieval(args: argparse.Namespace) -> int:
    import dataclasses

    from converters.manifest import CleaningPolicy
    from converters.retrieval.model import DualEncoderSpec
    from converters.retrieval.train import RetrievalTrainConfig
    from converters.retrieval.workflow import export_dual_encoder, train_dual_encoder

    spec = dataclasses.replace(DualEncoderSpec.tiny() if args.tiny else DualEncoderSpec(), dim=args.dim)
    config = RetrievalTrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                  patience=args.patience, seed=args.seed,
                                  hard_negative_group=args.hard_negatives)
    size = (args.image_size, args.image_size) if args.image_size else None
    policy = CleaningPolicy.uniform("drop") if args.drop_bad_rows else None
    run = train_dual_encoder(args.manifest, args.image_column, args.text_column, spec=spec, config=config,
                             image_size_px=size, max_text_length=args.max_text_length, policy=policy,
                             progress=sys.stderr.isatty())
    exported = export_dual_encoder(run, args.out, int8=args.int8, name=args.name)
    parity = {mode: {"t2i": report["tflite_t2i"], **({"cosine_vs_float32": report["cosine_vs_float32"]}
                                                      if "cosine_vs_float32" in report else {})}
              for mode, report in exported.parity.items()}
    print(json.dumps({"bundles": {m: str(p) for m, p in exported.bundles.items()}, **run.summary(),
                      "parity": parity}, default=str))
    return 0
