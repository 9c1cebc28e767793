"""Score a captioner or translator: Keras beams on the host, bundle beams on the device's runtime, and both compared.

The device side runs :class:`edge_sdk.generator.Generator`, exactly what ``edge-sdk caption`` runs;
the host side runs the same search code over the Keras step (:meth:`TrainedCaptioner.generate`).
``beam_parity`` is the share of inputs whose two best hypotheses have the same token ids.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from converters.captioning.metrics import cider_d, corpus_bleu4
from converters.captioning.train import TrainedCaptioner
from converters.captioning.vocab import normalize_text

if TYPE_CHECKING:
    from edge_sdk.generator import Generator

__all__ = ["Generated", "beam_parity", "bundle_generate", "generator_generate", "keras_generate", "score"]


@dataclass(frozen=True)
class Generated:
    """Texts and token ids per input, and the time per input (ms) where measured."""

    texts: list[str]
    token_ids: list[tuple[int, ...]]
    latency_ms: list[float]


def keras_generate(trained: TrainedCaptioner, images: np.ndarray | None, sources: np.ndarray | None,
                   beam_size: int = 3, batch: int = 64) -> Generated:
    """``images`` raw (N, H, W, 3) pixels as the encoder takes them, ``sources`` (N, S) token ids."""
    count = len(images) if images is not None else len(sources)  # type: ignore[arg-type]
    texts, ids = [], []
    for start in range(0, count, batch):
        inputs = {}
        if images is not None:
            inputs["image"] = images[start:start + batch]
        if sources is not None:
            inputs["source"] = sources[start:start + batch]
        for hypothesis in trained.generate(inputs, beam_size=beam_size):
            ids.append(hypothesis.token_ids)
            texts.append(trained.vocabulary.text(hypothesis.token_ids))
    return Generated(texts, ids, [])


def bundle_generate(bundle: str | Path, images_rgb: Sequence[np.ndarray] | None, sources: Sequence[str] | None,
                    beam_size: int = 3, num_threads: int = 1, progress: bool = False) -> Generated:
    """Generate through the bundle on the device runtime; images are RGB arrays, sources raw sentences."""
    from edge_sdk.generator import Generator

    with Generator.from_bundle(bundle, num_threads=num_threads, verify_golden=False) as generator:
        return generator_generate(generator, images_rgb, sources, beam_size,
                                  name=Path(bundle).name if progress else None)


def generator_generate(generator: Generator, images_rgb: Sequence[np.ndarray] | None, sources: Sequence[str] | None,
                       beam_size: int = 3, name: str | None = None) -> Generated:
    """:func:`bundle_generate` on an open generator (any encoder and step pair); ``name`` shows a progress bar."""
    count = len(images_rgb) if images_rgb is not None else len(sources)  # type: ignore[arg-type]
    texts, ids, latency = [], [], []
    bar = _bar(count, name) if name is not None else None
    for index in range(count):
        started = time.perf_counter()
        out = generator.generate(image=None if images_rgb is None else images_rgb[index],
                                 text=None if sources is None else sources[index], color_order="RGB",
                                 beam_size=beam_size)
        latency.append((time.perf_counter() - started) * 1e3)
        texts.append(out.generation.text)
        ids.append(out.generation.token_ids)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return Generated(texts, ids, latency)


def score(texts: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-4 (sacreBLEU, 0-100) and CIDEr-D, on normalised words."""
    refs = [[normalize_text(r) for r in rs] for rs in references]
    hyps = [normalize_text(t) for t in texts]
    return {"bleu4": corpus_bleu4(hyps, refs), "cider": cider_d(hyps, refs),
            "exact": float(np.mean([h in r for h, r in zip(hyps, refs, strict=True)])) if hyps else 0.0}


def beam_parity(a: Generated, b: Generated) -> float:
    if len(a.token_ids) != len(b.token_ids):
        raise ValueError(f"cannot compare {len(a.token_ids)} and {len(b.token_ids)} generations")
    return float(np.mean([x == y for x, y in zip(a.token_ids, b.token_ids, strict=True)])) if a.token_ids else 0.0


def _bar(total: int, name: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"generate {name}", unit="input", leave=False, mininterval=1.0)
