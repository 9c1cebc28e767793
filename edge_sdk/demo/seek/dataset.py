"""Write a seek dataset to disk in the same format users bring their own data in.

The manifest is a CSV with one row per sample: ``image`` (path relative to the manifest),
``text``, ``distance_cm`` and ``label``. The host toolchain reads it like any user manifest.
:func:`write_caption_dataset` writes (image, caption) pairs for retrieval the same way.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_sdk._lazy import require
from edge_sdk.demo.seek.captions import describe, query_for_scene
from edge_sdk.demo.seek.world import Scene, render_scene, sample_scene

__all__ = ["CAPTION_COLUMNS", "MANIFEST_COLUMNS", "caption_scenes", "write_caption_dataset", "write_dataset"]

_log = logging.getLogger(__name__)
MANIFEST_COLUMNS = ("image", "text", "distance_cm", "label")
CAPTION_COLUMNS = ("image", "caption", "kind", "scene")


def write_dataset(
    out_dir: str | Path,
    samples: int,
    seed: int = 0,
    image_size: int = 64,
    progress: Callable[[int], None] | None = None,
    touching: float = 0.0,
    zone_margin: float | None = None,
) -> Path:
    """Render ``samples`` scenes into ``out_dir/images`` and write ``out_dir/manifest.csv``.

    Deterministic for a given seed and size. ``progress`` is called with the number of samples done
    since the last call (fits ``tqdm.update``). ``touching`` and ``zone_margin`` (None: the world's
    default) go to :func:`~edge_sdk.demo.seek.world.sample_scene`. Returns the manifest path.
    """
    cv2 = require("cv2", "writing seek images")
    out = Path(out_dir)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    manifest = out / "manifest.csv"
    tmp = manifest.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for index in range(samples):
            scene = (sample_scene(rng, touching=touching) if zone_margin is None
                     else sample_scene(rng, touching=touching, zone_margin=zone_margin))
            name = f"images/{index:06d}.png"
            rgb = render_scene(scene, size=image_size)
            if not cv2.imwrite(str(out / name), rgb[:, :, ::-1]):
                raise OSError(f"cannot write {out / name}")
            writer.writerow((name, scene.text, f"{scene.distance_cm:.1f}", scene.label))
            if progress is not None and (index + 1) % 256 == 0:
                progress(256)
        if progress is not None and samples % 256:
            progress(samples % 256)
    tmp.replace(manifest)  # a half-written manifest never looks complete
    _log.info("wrote %d seek samples to %s", samples, manifest)
    return manifest


def caption_scenes(samples: int, seed: int = 0, separated_sizes: bool = True) -> list[Scene]:
    """The scenes :func:`write_caption_dataset` draws for this seed, in row order of their images.

    ``separated_sizes`` (the default for captions) keeps every radius clear of the small/large cut
    (:data:`~edge_sdk.demo.seek.world.SEPARATED_RADIUS_RANGES`): a caption's "small" or "large" is
    then visible at 64 px, not a coin toss for shapes at the cut. False gives the classifier's world.
    """
    rng = np.random.default_rng(seed)
    return [sample_scene(rng, separated_sizes=separated_sizes) for _ in range(samples)]


def write_caption_dataset(
    out_dir: str | Path,
    samples: int,
    seed: int = 0,
    image_size: int = 64,
    partial_per_scene: int = 1,
    progress: Callable[[int], None] | None = None,
    separated_sizes: bool = True,
) -> Path:
    """Render ``samples`` scenes and write ``out_dir/captions.csv`` of (image, caption) pairs.

    Each scene gets one row with its full description (``kind`` ``full``) and
    ``partial_per_scene`` rows with partial queries it matches (``kind`` ``partial``); ``scene`` is
    the scene's index in :func:`caption_scenes` for the same seed and ``separated_sizes``.
    Deterministic; returns the path.
    """
    cv2 = require("cv2", "writing seek images")
    if samples < 1 or partial_per_scene < 0:
        raise ValueError(f"samples must be >= 1 and partial_per_scene >= 0. Got: {samples}, {partial_per_scene}")
    out = Path(out_dir)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    queries = np.random.default_rng([seed, 1])  # apart from the scenes' stream: counts do not move scenes
    manifest = out / "captions.csv"
    tmp = manifest.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CAPTION_COLUMNS)
        for index, scene in enumerate(caption_scenes(samples, seed, separated_sizes)):
            name = f"images/{index:06d}.png"
            if not cv2.imwrite(str(out / name), render_scene(scene, size=image_size)[:, :, ::-1]):
                raise OSError(f"cannot write {out / name}")
            writer.writerow((name, describe(scene), "full", index))
            for _ in range(partial_per_scene):
                writer.writerow((name, query_for_scene(queries, scene).text, "partial", index))
            if progress is not None and (index + 1) % 256 == 0:
                progress(256)
        if progress is not None and samples % 256:
            progress(samples % 256)
    tmp.replace(manifest)
    _log.info("wrote %d captioned seek scenes to %s", samples, manifest)
    return manifest
