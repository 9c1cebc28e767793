"""Manifest in, generate bundle out: captioning and image-conditioned translation as two calls each.

    run = train_captioning("captions.csv", image_column="image", caption_column="caption")
    exported = export_generation(run, "out/")           # out/captioner_float32.tflite, ..._int8.tflite

    run = train_translation("translations.csv", source_column="source", target_column="target")

Rows are split by image (``split_by_group``), so held-out images are never seen in training.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converters.captioning.data import load_caption_manifest, load_images, load_translation_manifest, split_by_group
from converters.captioning.evaluate import beam_parity, bundle_generate, keras_generate, score
from converters.captioning.export import EXPORT_MODES, ExportedCaptioner, export_captioner
from converters.captioning.model import CaptionerSpec
from converters.captioning.train import (
    CaptionTensors,
    CaptionTrainConfig,
    TrainedCaptioner,
    spec_summary,
    train_captioner,
)
from converters.captioning.vocab import TargetVocabulary
from edge_sdk.preprocess import ImageSpec, Tokenizer, read_image
from edge_sdk.preprocess.text import split_words

__all__ = ["GenerationRun", "export_generation", "train_captioning", "train_translation"]

_log = logging.getLogger(__name__)
GOLDEN_IMAGES = 3


@dataclass
class GenerationRun:
    """A trained captioner or translator, its data and its split (positions into the manifest's rows)."""

    trained: TrainedCaptioner
    image_paths: tuple[str, ...]
    images: np.ndarray  # prepared (N, H, W, 3) uint8 RGB, one per row
    sources: tuple[str, ...] | None
    targets: tuple[str, ...]
    split: tuple[np.ndarray, np.ndarray, np.ndarray]

    def tensors(self, rows: np.ndarray) -> CaptionTensors:
        target_in, target_out = self.trained.vocabulary.teacher_forcing([self.targets[i] for i in rows])
        sources = None
        if self.sources is not None and self.trained.source is not None:
            sources = Tokenizer(self.trained.source).encode_batch([self.sources[i] for i in rows])
        return CaptionTensors(self.images[rows] if self.trained.image is not None else None, sources, target_in,
                              target_out)

    def references(self, rows: np.ndarray) -> list[list[str]]:
        """Every target of the row's image (and source, for translation): the reference set of each row."""
        refs: dict[tuple[str, str], list[str]] = {}
        for i in range(len(self.targets)):
            refs.setdefault(self._key(i), []).append(self.targets[i])
        return [refs[self._key(int(i))] for i in rows]

    def _key(self, row: int) -> tuple[str, str]:
        return self.image_paths[row], self.sources[row] if self.sources is not None else ""


def _image_spec(paths: tuple[str, ...], image_size_px: tuple[int, int] | None) -> ImageSpec:
    if image_size_px is None:
        height, width = read_image(paths[0]).shape[:2]
        image_size_px = (width, height)
    return ImageSpec(width=image_size_px[0], height=image_size_px[1])


def _train(paths: tuple[str, ...], sources: tuple[str, ...] | None, targets: tuple[str, ...], spec: CaptionerSpec,
           config: CaptionTrainConfig, image_size_px: tuple[int, int] | None, val_fraction: float,
           test_fraction: float, progress: bool, name: str) -> GenerationRun:
    split = split_by_group(list(paths), val_fraction, test_fraction, seed=config.seed)
    train_rows, val_rows = split[0], split[1] if len(split[1]) else split[0]
    image = _image_spec(paths, image_size_px)
    images = load_images(paths, image)
    vocabulary = TargetVocabulary.fit([targets[i] for i in train_rows])
    source = None
    if sources is not None and spec.use_source:
        texts = [sources[i] for i in train_rows]
        longest = max(len(split_words(t)) for t in texts)  # the longest training source sets the length
        source = Tokenizer.fit(texts, max_length=longest).spec
    run = GenerationRun(TrainedCaptioner.build(spec, image, source, vocabulary), paths, images, sources, targets,
                        split)
    _log.info("%s: %d rows, split %d/%d/%d, %d target words", name, len(targets), *(len(s) for s in split),
              len(vocabulary))
    run.trained = train_captioner(spec, image if spec.use_image else None, source, vocabulary,
                                  run.tensors(train_rows), run.tensors(val_rows), config, progress=progress, name=name)
    return run


def train_captioning(manifest: str | Path, image_column: str = "image", caption_column: str = "caption", *,
                     spec: CaptionerSpec | None = None, config: CaptionTrainConfig | None = None,
                     image_size_px: tuple[int, int] | None = None, val_fraction: float = 0.1,
                     test_fraction: float = 0.1, progress: bool = True) -> GenerationRun:
    """(image, caption) rows from any CSV/JSONL/Parquet manifest; ``image_size_px`` is (width, height)."""
    data = load_caption_manifest(manifest, image_column, caption_column)
    return _train(data.images, None, data.captions, spec or CaptionerSpec(), config or CaptionTrainConfig(),
                  image_size_px, val_fraction, test_fraction, progress, "captioner")


def train_translation(manifest: str | Path, image_column: str = "image", source_column: str = "source",
                      target_column: str = "target", *, spec: CaptionerSpec | None = None,
                      config: CaptionTrainConfig | None = None, image_size_px: tuple[int, int] | None = None,
                      val_fraction: float = 0.1, test_fraction: float = 0.1, progress: bool = True) -> GenerationRun:
    """(image, source, target) rows; ``spec.use_image`` False trains the text-only baseline on the same rows."""
    spec = spec or CaptionerSpec(use_source=True)
    if not spec.use_source:
        raise ValueError("a translator's spec needs use_source=True")
    data = load_translation_manifest(manifest, image_column, source_column, target_column)
    return _train(data.images, data.sources, data.targets, spec, config or CaptionTrainConfig(), image_size_px,
                  val_fraction, test_fraction, progress, "translator" if spec.use_image else "text_only_translator")


def evaluate_run(run: GenerationRun, rows: np.ndarray, bundles: dict[str, Path] | None = None, beam_size: int = 3,
                 progress: bool = False) -> dict[str, dict[str, Any]]:
    """Keras and (per bundle mode) device scores on ``rows``, with each bundle's beam parity against Keras."""
    trained = run.trained
    tensors = run.tensors(rows)
    references = run.references(rows)
    keras = keras_generate(trained, tensors.images, tensors.sources, beam_size)
    report: dict[str, dict[str, Any]] = {"keras": {**score(keras.texts, references), "rows": len(rows)}}
    for mode, path in (bundles or {}).items():
        images = list(run.images[rows]) if trained.image is not None else None
        sources = [run.sources[i] for i in rows] if run.sources is not None and trained.source is not None else None
        device = bundle_generate(path, images, sources, beam_size, progress=progress)
        report[mode] = {**score(device.texts, references), "beam_parity_vs_keras": beam_parity(keras, device),
                        "ms_p50": float(np.median(device.latency_ms)), "rows": len(rows),
                        "examples": [{"generated": t, "reference": r[0]}
                                     for t, r in zip(device.texts[:5], references[:5], strict=True)]}
    return report


def export_generation(run: GenerationRun, out_dir: str | Path, *, modes: tuple[str, ...] = EXPORT_MODES,
                      name: str | None = None, beam_size: int = 3, evaluate_rows: int = 200,
                      save_keras: bool = True, calibration_samples: int = 300,
                      timeout_s: float = 1800.0) -> ExportedCaptioner:
    """Bundle ``run`` per mode, score each on held-out rows, and write ``report.json`` next to them."""
    out = Path(out_dir)
    name = name or ("translator" if run.trained.source is not None else "captioner")
    test = run.split[2] if len(run.split[2]) else run.split[0]
    goldens = list(dict.fromkeys(int(i) for i in test))[:GOLDEN_IMAGES]
    exported = export_captioner(
        run.trained, out, run.tensors(run.split[0]),
        golden_images_bgr=[read_image(run.image_paths[i]) for i in goldens],
        golden_sources=[run.sources[i] for i in goldens] if run.trained.source is not None and run.sources else (),
        modes=modes, name=name, beam_size=beam_size, calibration_samples=calibration_samples, timeout_s=timeout_s)
    report = {"train": spec_summary(run.trained), "history": run.trained.history,
              "split": [len(s) for s in run.split], "bundles": {m: str(p) for m, p in exported.bundles.items()},
              "sizes": exported.sizes, "op_counts": exported.op_counts,
              "evaluation": evaluate_run(run, test[:evaluate_rows], exported.bundles, beam_size)}
    if save_keras:
        run.trained.save(out / "keras")
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return exported
