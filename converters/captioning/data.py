"""Captioning and translation data: generic manifests, seek writers, the masked-source split.

Manifests are read by :mod:`converters.manifest`'s reader (CSV, JSONL or Parquet by suffix); the
caller names the columns: (image, caption) for captioning, (image, source, target) for
image-conditioned translation. Texts are kept as written, in Unicode NFC (German umlauts then
stay inside one word for the shared tokenizer). Images are decoded by the device's own
preprocessing (:func:`edge_sdk.preprocess.prepare_image`) in :func:`load_images`.

The seek writers render seeded scenes (:mod:`edge_sdk.demo.seek.world`) and write the captions of
:func:`edge_sdk.demo.seek.captions.describe`, or commands with their German
(:mod:`edge_sdk.demo.seek.german`). Translation scenes always show the named object, and the one
attribute a masked source hides can be read off the image: the colour is masked only when no
other shape of the same kind is in view, the shape only when no other shape has that colour
(the protocol of Caglayan et al., 2019: the target keeps the word, only the image can supply it).

Every row carries its scene's id (``scene``); :func:`split_by_group` keeps all rows of one image on
one side, so held-out scenes are never seen in training.
"""

from __future__ import annotations

import csv
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters._parallel import parallel_map
from converters.errors import DataError, SpecError
from converters.manifest import _read
from edge_sdk._lazy import require
from edge_sdk.demo.seek.captions import describe, size_of, zone_of
from edge_sdk.demo.seek.german import Command
from edge_sdk.demo.seek.world import COLORS, SHAPES, Scene, render_scene, sample_scene
from edge_sdk.errors import InputError
from edge_sdk.preprocess import ImageSpec, prepare_image, read_image
from edge_sdk.preprocess.text import split_words

__all__ = [
    "CAPTION_COLUMNS", "MASK_TOKEN", "TRANSLATION_COLUMNS", "CaptionData", "TranslationData", "load_caption_manifest",
    "load_images", "load_translation_manifest", "mask_source", "split_by_group", "translation_scenes",
    "write_seek_captions", "write_seek_translations",
]

_log = logging.getLogger(__name__)
MASK_TOKEN = "<mask>"  # the shared tokenizer reads it as the word "mask", which no seek command uses
CAPTION_COLUMNS = ("image", "caption", "scene")
TRANSLATION_COLUMNS = ("image", "source", "target", "english", "masked", "scene")
_MASKABLE = {"color": tuple(COLORS), "shape": SHAPES}
_SHOWN = 5


@dataclass(frozen=True)
class CaptionData:
    """(image, caption) rows: absolute image paths, captions, 0-based source rows."""

    source: Path
    images: tuple[str, ...]
    captions: tuple[str, ...]
    rows: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: Sequence[int] | np.ndarray) -> CaptionData:
        index = [int(i) for i in positions]
        return CaptionData(self.source, tuple(self.images[i] for i in index),
                           tuple(self.captions[i] for i in index), tuple(self.rows[i] for i in index))

    def references(self) -> dict[str, list[str]]:
        """Every caption of each image: the reference sets of the metrics."""
        refs: dict[str, list[str]] = {}
        for image, caption in zip(self.images, self.captions, strict=True):
            refs.setdefault(image, []).append(caption)
        return refs


@dataclass(frozen=True)
class TranslationData:
    """(image, source, target) rows: absolute image paths, source and target sentences, source rows."""

    source_path: Path
    images: tuple[str, ...]
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    rows: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: Sequence[int] | np.ndarray) -> TranslationData:
        index = [int(i) for i in positions]
        return TranslationData(self.source_path, tuple(self.images[i] for i in index),
                               tuple(self.sources[i] for i in index), tuple(self.targets[i] for i in index),
                               tuple(self.rows[i] for i in index))


def _blank(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float | np.floating) and bool(np.isnan(value)))


def _columns(path: Path, wanted: Sequence[tuple[str, str]]) -> list[list[object]]:
    """The named columns of the manifest, checked; ``wanted`` is (role, column name)."""
    names = [name for _, name in wanted]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"each role needs its own column. Got: {duplicates} used twice in {dict(wanted)}")
    raw = _read(path)
    have = [str(c) for c in raw.columns]
    missing = [name for _, name in wanted if name not in have]
    if missing:
        expected = ", ".join(f"{role} {name!r}" for role, name in wanted)
        raise DataError(f"{path}: missing column {missing[0]!r}. Expected columns: {expected}. Got: {have}")
    if len(raw) == 0:
        raise DataError(f"{path}: no rows. Expected at least 1. Got: 0")
    return [raw[name].tolist() for name in names]


def _clean_rows(path: Path, wanted: Sequence[tuple[str, str]]) -> tuple[list[int], list[list[str]]]:
    """Rows whose image exists and whose texts have words; any other row fails loading, named."""
    values = _columns(path, wanted)
    problems: list[str] = []
    rows: list[int] = []
    cleaned: list[list[str]] = [[] for _ in wanted]
    for row in range(len(values[0])):
        cells: list[str] = []
        for (role, name), column in zip(wanted, values, strict=True):
            value = column[row]
            if role == "image":
                cell = "" if _blank(value) else str(path.parent / str(value).strip())
                if not cell or not Path(cell).is_file():
                    problems.append(f"row {row}, column {name!r}: " +
                                    ("image path is empty" if not cell else f"image file not found: {cell}"))
            else:
                cell = "" if _blank(value) else unicodedata.normalize("NFC", str(value).strip())
                if not split_words(cell):
                    problems.append(f"row {row}, column {name!r}: {role} has no words. Got: {value!r}")
            cells.append(cell)
        rows.append(row)
        for store, cell in zip(cleaned, cells, strict=True):
            store.append(cell)
    if problems:
        more = f"; ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise DataError(f"{path}: {len(problems)} bad cells: {'; '.join(problems[:_SHOWN])}{more}")
    return rows, cleaned


def load_caption_manifest(path: str | Path, image_col: str = "image", caption_col: str = "caption") -> CaptionData:
    """(image, caption) rows from a CSV/JSONL/Parquet manifest; several rows may share an image."""
    source = Path(path)
    rows, (images, captions) = _clean_rows(source, (("image", image_col), ("caption", caption_col)))
    return CaptionData(source, tuple(images), tuple(captions), tuple(rows))


def load_translation_manifest(path: str | Path, image_col: str = "image", source_col: str = "source",
                              target_col: str = "target") -> TranslationData:
    """(image, source, target) rows from a CSV/JSONL/Parquet manifest."""
    where = Path(path)
    rows, (images, sources, targets) = _clean_rows(
        where, (("image", image_col), ("source", source_col), ("target", target_col)))
    return TranslationData(where, tuple(images), tuple(sources), tuple(targets), tuple(rows))


def load_images(paths: Sequence[str], spec: ImageSpec, workers: int | None = None) -> np.ndarray:
    """Decode and prepare images through the device's preprocessing: (N, H, W, 3) uint8, one per path."""
    out = np.empty((len(paths), spec.height, spec.width, 3), dtype=np.uint8)

    def load(job: tuple[int, str]) -> None:
        index, path = job
        try:
            out[index] = prepare_image(read_image(path), spec, color_order="BGR")
        except InputError as exc:
            raise DataError(f"unreadable image {path}: {exc}") from exc

    parallel_map(load, list(enumerate(paths)), workers=workers)
    return out


def split_by_group(groups: Sequence[str], val_fraction: float = 0.1, test_fraction: float = 0.1,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded (train, val, test) row positions; rows sharing a group (an image) stay on one side."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise SpecError(f"val and test fractions must be in [0, 1) and leave rows for training. "
                        f"Got: {val_fraction}, {test_fraction}")
    distinct = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(distinct))
    n_test, n_val = round(len(distinct) * test_fraction), round(len(distinct) * val_fraction)
    if len(distinct) - n_test - n_val < 1:
        raise DataError(f"{len(distinct)} groups cannot be split {val_fraction}/{test_fraction}")
    side = np.zeros(len(distinct), dtype=np.int8)
    side[order[:n_test]], side[order[n_test:n_test + n_val]] = 2, 1
    where = {g: side[i] for i, g in enumerate(distinct)}
    of = np.array([where[g] for g in groups])
    return np.flatnonzero(of == 0), np.flatnonzero(of == 1), np.flatnonzero(of == 2)


def _mask_words(text: str, kind: str) -> str:
    words = set(_MASKABLE[kind])
    return " ".join(MASK_TOKEN if w in words else w for w in text.split(" "))


def mask_source(text: str, rng: np.random.Generator, kinds: Sequence[str] = ("color", "shape")) -> str:
    """``text`` with its colour or its shape words (one kind, drawn among those present) set to ``<mask>``.

    A text naming neither comes back unchanged.
    """
    unknown = [k for k in kinds if k not in _MASKABLE]
    if unknown:
        raise SpecError(f"mask kinds must be among {tuple(_MASKABLE)}. Got: {unknown}")
    words = text.split(" ")
    present = [k for k in kinds if any(w in _MASKABLE[k] for w in words)]
    if not present:
        return text
    return _mask_words(text, present[int(rng.integers(len(present)))])


def _identifiable(scene: Scene) -> list[str]:
    """Which of the target's attributes the image alone pins down, given the other one."""
    same_shape = sum(s.shape == scene.target_shape for s in scene.shapes)
    same_color = sum(s.color == scene.target_color for s in scene.shapes)
    return [k for k, unique in (("color", same_shape == 1), ("shape", same_color == 1)) if unique]


def translation_scenes(samples: int, seed: int = 0) -> list[Scene]:
    """The scenes :func:`write_seek_translations` draws: the target in view, one attribute identifiable."""
    rng = np.random.default_rng(seed)
    scenes: list[Scene] = []
    while len(scenes) < samples:
        scene = sample_scene(rng, label=("left", "center", "right")[int(rng.integers(3))], separated_sizes=True)
        if _identifiable(scene):
            scenes.append(scene)
    return scenes


def _write_rows(out: Path, name: str, columns: Sequence[str], rows: list[tuple[object, ...]]) -> Path:
    manifest = out / name
    tmp = manifest.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    tmp.replace(manifest)  # a half-written manifest never looks complete
    return manifest


def _render(out: Path, scenes: Sequence[Scene], image_size: int) -> list[str]:
    cv2 = require("cv2", "writing seek images")
    (out / "images").mkdir(parents=True, exist_ok=True)
    names = []
    for index, scene in enumerate(scenes):
        name = f"images/{index:06d}.png"
        if not cv2.imwrite(str(out / name), render_scene(scene, size=image_size)[:, :, ::-1]):
            raise OSError(f"cannot write {out / name}")
        names.append(name)
    return names


def write_seek_captions(out_dir: str | Path, n: int, seed: int = 0, image_size: int = 64) -> Path:
    """Render ``n`` seeded scenes and write ``captions.csv`` (image, caption, scene). Returns its path."""
    if n < 1:
        raise SpecError(f"n must be >= 1. Got: {n}")
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng, separated_sizes=True) for _ in range(n)]  # sizes clear of the small/large cut
    names = _render(out, scenes, image_size)
    path = _write_rows(out, "captions.csv", CAPTION_COLUMNS,
                       [(name, describe(s), i) for i, (name, s) in enumerate(zip(names, scenes, strict=True))])
    _log.info("wrote %d captioned seek scenes to %s", n, path)
    return path


def write_seek_translations(out_dir: str | Path, n: int, seed: int = 0, masked: bool = False,
                            image_size: int = 64, detail_share: float = 0.0) -> Path:
    """Render ``n`` seeded scenes, each with its command, and write ``translations.csv``.

    Columns: ``image``, ``source`` (the English command, masked when ``masked``), ``target`` (the
    German, never masked), ``english`` (the unmasked source), ``masked`` (``color``, ``shape`` or
    empty) and ``scene``. The same seed gives the same scenes, commands and targets whether
    masked or not. ``detail_share`` of the commands also name the target's size and zone, as the
    image shows them.
    """
    if n < 1 or not 0.0 <= detail_share <= 1.0:
        raise SpecError(f"n must be >= 1 and detail_share in [0, 1]. Got: {n}, {detail_share}")
    out = Path(out_dir)
    scenes = translation_scenes(n, seed)
    choices = np.random.default_rng([seed, 2])  # apart from the scenes' stream
    rows: list[tuple[object, ...]] = []
    for index, (name, scene) in enumerate(zip(_render(out, scenes, image_size), scenes, strict=True)):
        target = scene.target()
        assert target is not None  # translation scenes show their target
        detailed = choices.random() < detail_share
        command = Command(scene.target_color, scene.target_shape, scene.template,
                          size_of(target) if detailed else None, zone_of(target) if detailed else None)
        kinds = _identifiable(scene)
        kind = kinds[int(choices.integers(len(kinds)))]
        source = _mask_words(command.english, kind) if masked else command.english
        rows.append((name, source, command.german, command.english, kind if masked else "", index))
    path = _write_rows(out, "translations.csv", TRANSLATION_COLUMNS, rows)
    _log.info("wrote %d seek commands (%s) to %s", n, "masked" if masked else "plain", path)
    return path
