"""Fit the text and sensor preprocessing on training values, by the user's options.

What is fitted here is written into the bundle and applied on the device by ``edge_sdk.preprocess``
unchanged (the shared :class:`~edge_sdk.preprocess.Tokenizer` and ``scale_sensor``): options only
choose the vocabulary, the length and each channel's mean and scale, never a second code path.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from converters.errors import DataError, SpecError
from edge_sdk.preprocess import SensorChannel, SensorSpec, TokenizerSpec
from edge_sdk.preprocess.text import OOV_TOKEN, PAD_TOKEN, split_words

__all__ = ["SensorNormalization", "TextOptions", "fit_sensor", "fit_text"]

_log = logging.getLogger(__name__)

SensorNormalization = Literal["standard", "minmax", "none"]


@dataclass(frozen=True)
class TextOptions:
    """How the tokenizer is fitted; the defaults fit short commands and questions."""

    max_length: int | None = field(default=None, metadata={
        "help": "words per text; null: the length_percentile of the training texts' lengths, at least min_length"})
    length_percentile: float = field(default=99.0, metadata={"help": "percentile of training lengths for max_length"})
    min_length: int = field(default=8, metadata={"help": "smallest automatic max_length (room for longer prompts)"})
    lowercase: bool = field(default=True, metadata={"help": "lowercase before splitting into words"})
    vocabulary_size: int | None = field(default=None, metadata={
        "help": "keep at most this many words (the most frequent; pad and <unk> included); null: all"})
    min_count: int = field(default=1, metadata={"help": "a word seen fewer times in training becomes <unk>"})
    unk_rate: float = field(default=0.0, metadata={
        "help": "fraction of known words replaced by <unk> in each training batch, so unseen words at serve "
                "time are no surprise; 0: off"})

    def __post_init__(self) -> None:
        if self.max_length is not None and self.max_length < 1:
            raise SpecError(f"text max_length must be at least 1. Got: {self.max_length}")
        if not 0 < self.length_percentile <= 100:
            raise SpecError(f"text length_percentile must be in (0, 100]. Got: {self.length_percentile}")
        if self.min_length < 1 or self.min_count < 1:
            raise SpecError(f"text min_length and min_count must be at least 1. Got: {self.min_length}, {self.min_count}")
        if self.vocabulary_size is not None and self.vocabulary_size < 3:
            raise SpecError(f"text vocabulary_size must be at least 3 (pad, <unk> and a word). Got: {self.vocabulary_size}")
        if not 0 <= self.unk_rate < 1:
            raise SpecError(f"text unk_rate must be in [0, 1). Got: {self.unk_rate}")


def fit_text(texts: Sequence[str], options: TextOptions = TextOptions(), source: str = "training texts") -> TokenizerSpec:
    """A tokenizer spec for these training texts; logs a WARNING with a count when texts get cut."""
    if not texts:
        raise DataError(f"{source}: cannot fit a tokenizer on 0 texts")
    words = [split_words(t, options.lowercase) for t in texts]
    lengths = np.asarray([len(w) for w in words])
    if options.max_length is not None:
        max_length = options.max_length
    else:
        chosen = math.ceil(float(np.percentile(lengths, options.length_percentile)))
        max_length = max(options.min_length, chosen, 1)
    truncated = int((lengths > max_length).sum())
    if truncated:
        _log.warning(
            "%s: %d of %d texts (%.1f%%) have more than max_length=%d words and are truncated (longest: %d); "
            "set the text input's max_length to keep them", source, truncated, len(texts),
            100 * truncated / len(texts), max_length, int(lengths.max()))
    counts = Counter(word for sentence in words for word in sentence)
    vocabulary = sorted((w for w, c in counts.items() if c >= options.min_count), key=lambda w: (-counts[w], w))
    if options.vocabulary_size is not None:
        vocabulary = vocabulary[: options.vocabulary_size - 2]
    return TokenizerSpec(vocabulary=(PAD_TOKEN, OOV_TOKEN, *vocabulary), max_length=max_length,
                         lowercase=options.lowercase)


def fit_sensor(values: Mapping[str, np.ndarray], units: Mapping[str, str],
               normalization: Mapping[str, SensorNormalization] | None = None) -> SensorSpec:
    """Per-channel offset and scale the device applies as ``(x - mean) / std``.

    ``standard``: the training mean and standard deviation; ``minmax``: the training range maps to
    -1..1; ``none``: values pass as they are.
    """
    channels = []
    for name, column in values.items():
        array = np.asarray(column, dtype=np.float64)
        if array.size == 0 or not np.all(np.isfinite(array)):
            raise DataError(f"sensor column {name!r}: cannot fit on empty or non-finite values. Got: {array.size} values")
        how = (normalization or {}).get(name, "standard")
        if how == "standard":
            mean, scale = float(array.mean()), float(array.std())
        elif how == "minmax":
            mean, scale = float(array.min() + array.max()) / 2, float(array.max() - array.min()) / 2
        elif how == "none":
            mean, scale = 0.0, 1.0
        else:
            raise SpecError(f"sensor {name!r}: normalization must be standard, minmax or none. Got: {how!r}")
        channels.append(SensorChannel(name=name, unit=units.get(name, ""), mean=mean, std=scale if scale > 0 else 1.0))
    return SensorSpec(tuple(channels))
