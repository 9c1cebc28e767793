"""Write a seek dataset to disk in the same format users bring their own data in.

The manifest is a CSV with one row per sample: ``image`` (path relative to the manifest),
``text``, ``distance_cm`` and ``label``. The host toolchain reads it like any user manifest.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_sdk._lazy import require
from edge_sdk.demo.seek.world import render_scene, sample_scene

__all__ = ["MANIFEST_COLUMNS", "write_dataset"]

_log = logging.getLogger(__name__)
MANIFEST_COLUMNS = ("image", "text", "distance_cm", "label")


def write_dataset(
    out_dir: str | Path,
    samples: int,
    seed: int = 0,
    image_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Render ``samples`` scenes into ``out_dir/images`` and write ``out_dir/manifest.csv``.

    Deterministic for a given seed and size. ``progress`` is called with the number of samples done
    since the last call (fits ``tqdm.update``). Returns the manifest path.
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
            scene = sample_scene(rng)
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
