"""(image, text) pairs from any manifest: read, clean, split by image, fit the shared preprocessing.

The file is read by :mod:`converters.manifest`'s reader (CSV, JSONL or Parquet by suffix, cells as
the user wrote them); the two columns are named by the caller. A pair has no label, so the split
keeps every row of one image on one side (an image with several captions never straddles train
and test) and is seeded. Tensors come from the device's own preprocessing
(:class:`converters.preprocessing.Preprocessing`), one sample at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters._parallel import parallel_map
from converters.errors import DataError, SpecError
from converters.manifest import CleaningPolicy, _read
from converters.preprocessing import Preprocessing
from edge_sdk.errors import InputError
from edge_sdk.preprocess import ImageSpec, Tokenizer, prepare_image, read_image
from edge_sdk.preprocess.text import split_words

__all__ = ["PairData", "PairSplit", "Pairs", "fit_pair_preprocessing", "load_pairs", "pair_tensors", "split_pairs"]

_log = logging.getLogger(__name__)
_SHOWN = 5


@dataclass(frozen=True)
class Pairs:
    """Cleaned pairs: absolute image paths, texts and their 0-based rows in the source file."""

    source: Path
    images: tuple[str, ...]
    texts: tuple[str, ...]
    rows: tuple[int, ...]
    dropped_rows: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: np.ndarray) -> Pairs:
        index = [int(i) for i in positions]
        return Pairs(self.source, tuple(self.images[i] for i in index), tuple(self.texts[i] for i in index),
                     tuple(self.rows[i] for i in index))


def load_pairs(path: str | Path, image_column: str = "image", text_column: str = "caption",
               policy: CleaningPolicy | None = None) -> Pairs:
    """Read and clean a manifest of pairs. Empty text and missing image files fail by default
    (``policy`` may drop them: ``empty_text``, ``missing_image``)."""
    policy = policy or CleaningPolicy()
    if image_column == text_column:
        raise SpecError(f"the image and text columns must differ. Got: both {image_column!r}")
    source = Path(path)
    raw = _read(source)
    columns = [str(c) for c in raw.columns]
    missing = [c for c in (image_column, text_column) if c not in columns]
    if missing:
        raise DataError(f"{source}: missing column {missing[0]!r}. Expected an image column {image_column!r} and "
                        f"a text column {text_column!r}. Got: {columns}")
    if len(raw) == 0:
        raise DataError(f"{source}: no rows. Expected at least 2 (image, text) pairs. Got: 0")
    problems: dict[str, list[tuple[int, str]]] = {"empty_text": [], "missing_image": []}
    images, texts, rows = [], [], []
    for row, (image, text) in enumerate(zip(raw[image_column].tolist(), raw[text_column].tolist(), strict=True)):
        text_value = "" if _blank(text) else str(text)
        image_path = "" if _blank(image) else str(source.parent / str(image).strip())
        bad = False
        if not text_value.strip() or not split_words(text_value):
            problems["empty_text"].append((row, f"row {row}, column {text_column!r}: text has no words. Got: {text!r}"))
            bad = True
        if not image_path or not Path(image_path).is_file():
            what = "image path is empty" if not image_path else f"image file not found: {image_path}"
            problems["missing_image"].append((row, f"row {row}, column {image_column!r}: {what}"))
            bad = True
        if not bad:
            images.append(image_path)
            texts.append(text_value)
            rows.append(row)
    failing = [msg for kind, found in problems.items() if getattr(policy, kind) == "fail" for _, msg in found]
    if failing:
        kinds = sorted(k for k, found in problems.items() if found and getattr(policy, k) == "fail")
        more = f"; ... and {len(failing) - _SHOWN} more" if len(failing) > _SHOWN else ""
        raise DataError(f"{source}: {len(failing)} bad rows ({', '.join(kinds)}): {'; '.join(failing[:_SHOWN])}{more}. "
                        f"Fix them, or drop such rows with the cleaning policy ({', '.join(k + '=drop' for k in kinds)})")
    dropped = tuple(sorted({row for found in problems.values() for row, _ in found}))
    if dropped:
        _log.warning("%s: dropped %d rows (%s)", source.name, len(dropped), {k: len(v) for k, v in problems.items()})
    if len(rows) < 2:
        raise DataError(f"{source}: expected at least 2 usable pairs. Got: {len(rows)} of {len(raw)} rows")
    return Pairs(source, tuple(images), tuple(texts), tuple(rows), dropped)


def _blank(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    if value is None:
        return True
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


@dataclass(frozen=True)
class PairSplit:
    train: np.ndarray  # positions into Pairs
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def split_pairs(pairs: Pairs, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0) -> PairSplit:
    """A seeded split by image: every caption of an image lands on the same side."""
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise SpecError(f"{name} must be in [0, 1). Got: {fraction}")
    if val_fraction + test_fraction >= 1.0:
        raise SpecError(f"val_fraction + test_fraction must leave images for training. Got: {val_fraction} + {test_fraction}")
    groups = sorted(set(pairs.images))
    order = np.random.default_rng(seed).permutation(len(groups))
    n_val = round(len(groups) * val_fraction)
    n_test = round(len(groups) * test_fraction)
    if len(groups) - n_val - n_test < 1:
        raise DataError(f"{pairs.source}: {len(groups)} distinct images cannot be split {val_fraction}/{test_fraction}")
    side = np.empty(len(groups), dtype=np.int8)
    side[order[:n_test]], side[order[n_test:n_test + n_val]], side[order[n_test + n_val:]] = 2, 1, 0
    where = {g: side[i] for i, g in enumerate(groups)}
    of = np.array([where[image] for image in pairs.images])
    return PairSplit(*(np.flatnonzero(of == k) for k in (0, 1, 2)))


def fit_pair_preprocessing(pairs: Pairs, train: np.ndarray, image_size_px: tuple[int, int] | None = None,
                           max_text_length: int | None = None, min_count: int = 1) -> Preprocessing:
    """Image spec (raw 0..255 RGB, stretched to ``image_size_px`` = (width, height), by default the
    first image's size) and a tokenizer fitted on the training texts (max length: the longest)."""
    if len(train) == 0:
        raise DataError(f"{pairs.source}: cannot fit preprocessing on 0 training pairs")
    if image_size_px is None:
        first = read_image(pairs.images[int(train[0])])
        image_size_px = (int(first.shape[1]), int(first.shape[0]))
    texts = [pairs.texts[int(i)] for i in train]
    longest = max(len(split_words(t)) for t in texts)
    if max_text_length is not None and longest > max_text_length:
        _log.warning("%s: texts of up to %d words are cut to max_text_length=%d", pairs.source.name, longest,
                     max_text_length)
    tokenizer = Tokenizer.fit(texts, max_length=max_text_length or longest, min_count=min_count)
    return Preprocessing(labels=(), image=ImageSpec(width=image_size_px[0], height=image_size_px[1]),
                         text=tokenizer.spec)


@dataclass(frozen=True)
class PairData:
    """Tensors of some pairs. ``images`` holds each distinct image once, (M, H, W, 3) uint8; pair
    ``i`` is image ``image_ids[i]`` with token ids ``tokens[i]`` (N, L) int32. ``text_ids`` number
    the distinct token sequences: two pairs with the same image or the same text are positives of
    each other (an identical description is a correct answer)."""

    images: np.ndarray
    tokens: np.ndarray
    image_ids: np.ndarray
    text_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.image_ids)


def pair_tensors(pairs: Pairs, positions: np.ndarray, preprocessing: Preprocessing, workers: int | None = None,
                 progress: bool = False) -> PairData:
    """Tensors through the device's preprocessing; each distinct image is decoded once."""
    spec = preprocessing.image
    if spec is None or preprocessing.text is None:
        raise SpecError("retrieval preprocessing needs an image spec and a tokenizer")
    chosen = [int(i) for i in positions]
    paths = sorted({pairs.images[i] for i in chosen})
    decoded = np.empty((len(paths), spec.height, spec.width, 3), dtype=np.uint8)

    def load(job: tuple[int, str]) -> None:
        index, path = job
        try:
            decoded[index] = prepare_image(read_image(path), spec, color_order="BGR")
        except InputError as exc:
            raise DataError(f"{pairs.source.name}: unreadable image {path}: {exc}") from exc

    parallel_map(load, list(enumerate(paths)), workers=workers, progress="images" if progress else None)
    image_index = {p: i for i, p in enumerate(paths)}
    image_ids = np.array([image_index[pairs.images[i]] for i in chosen], dtype=np.int64)
    tokens = Tokenizer(preprocessing.text).encode_batch([pairs.texts[i] for i in chosen])
    _, text_ids = np.unique(tokens, axis=0, return_inverse=True)
    return PairData(decoded, tokens, image_ids, text_ids.reshape(-1).astype(np.int64))
