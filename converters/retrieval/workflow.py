"""Manifest in, dual-encoder bundle out: the steps of ``edge-sdk train-retrieval`` as two calls.

    run = train_dual_encoder("captions.csv", image_column="image", text_column="caption")
    exported = export_dual_encoder(run, "out/")       # out/dual_encoder_float32.tflite, ..._int8.tflite
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from converters.manifest import CleaningPolicy
from converters.retrieval import export as _export
from converters.retrieval.data import (
    PairData,
    Pairs,
    PairSplit,
    fit_pair_preprocessing,
    load_pairs,
    pair_tensors,
    split_pairs,
)
from converters.retrieval.model import DualEncoderSpec
from converters.retrieval.train import RetrievalTrainConfig, TrainedDualEncoder, train_towers
from edge_sdk.preprocess import read_image

__all__ = ["DualEncoderRun", "export_dual_encoder", "train_dual_encoder"]

_log = logging.getLogger(__name__)
GOLDEN_PER_SIGNATURE = 4


@dataclass
class DualEncoderRun:
    """A trained dual encoder with the data it was trained and held out on."""

    trained: TrainedDualEncoder
    pairs: Pairs
    split: PairSplit
    train: PairData
    test: PairData

    def summary(self) -> dict[str, Any]:
        last = self.trained.history[self.trained.best_epoch - 1] if self.trained.best_epoch else {}
        return {"split": self.split.sizes(), "best_epoch": self.trained.best_epoch,
                "epochs_run": len(self.trained.history), "val_recall": last.get("val_recall"),
                "val_t2i_r1": last.get("val_t2i_r1"), "val_i2t_r1": last.get("val_i2t_r1"),
                "temperature": self.trained.temperature, "train_s": round(self.trained.train_s, 2),
                "embed_dim": self.trained.spec.dim, "spec": asdict(self.trained.spec)}


def train_dual_encoder(
    manifest: str | Path,
    image_column: str = "image",
    text_column: str = "caption",
    *,
    spec: DualEncoderSpec | None = None,
    config: RetrievalTrainConfig | None = None,
    image_size_px: tuple[int, int] | None = None,
    max_text_length: int | None = None,
    policy: CleaningPolicy | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    progress: bool = True,
) -> DualEncoderRun:
    """Read (image, text) pairs from any CSV/JSONL/Parquet manifest, split by image, train both towers.

    ``image_size_px`` is (width, height), by default the first training image's size.
    """
    spec = spec or DualEncoderSpec()
    config = config or RetrievalTrainConfig()
    pairs = load_pairs(manifest, image_column, text_column, policy)
    split = split_pairs(pairs, val_fraction, test_fraction, seed=config.seed)
    preprocessing = fit_pair_preprocessing(pairs, split.train, image_size_px, max_text_length)
    train = pair_tensors(pairs, split.train, preprocessing, progress=progress)
    val = pair_tensors(pairs, split.val if len(split.val) else split.train, preprocessing)
    test = pair_tensors(pairs, split.test if len(split.test) else split.val if len(split.val) else split.train,
                        preprocessing)
    _log.info("%s: %d pairs, split %s", pairs.source.name, len(pairs), split.sizes())
    trained = train_towers(spec, preprocessing, train, val, config, progress=progress)
    return DualEncoderRun(trained, pairs, split, train, test)


def export_dual_encoder(run: DualEncoderRun, out_dir: str | Path, *, int8: bool = True, name: str = "dual_encoder",
                        save_keras: bool = True, timeout_s: float = 1800.0) -> _export.ExportedDualEncoder:
    """Bundle ``run`` as ``<name>_float32.tflite`` (and ``<name>_int8.tflite``) in ``out_dir``, each with the
    signatures ``embed_image`` and ``embed_text``; golden vectors from held-out pairs; writes ``report.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    held_out = run.split.test if len(run.split.test) else run.split.train
    images = list(dict.fromkeys(run.pairs.images[int(i)] for i in held_out))[:GOLDEN_PER_SIGNATURE]
    texts = list(dict.fromkeys(run.pairs.texts[int(i)] for i in held_out))[:GOLDEN_PER_SIGNATURE]
    exported = _export.export_dual_encoder(
        run.trained, out, run.test, run.train, golden_images_bgr=[read_image(p) for p in images], golden_texts=texts,
        modes=("float32", "int8") if int8 else ("float32",), name=name,
        timeout_s=timeout_s,
    )
    if save_keras:
        run.trained.save(out / "keras")
    report = {"train": run.summary(), "history": run.trained.history, **exported.to_dict()}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return exported
