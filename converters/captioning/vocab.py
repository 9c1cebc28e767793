"""The target side of a captioner: words <-> ids, with start and end tokens for teacher forcing.

Words are split by the device tokenizer's own rule (:func:`edge_sdk.preprocess.text.split_words`,
lower-cased), so a reference and a generated text are compared on the same words; the bundle's
``generate`` task carries :attr:`TargetVocabulary.words` as its labels, and the device joins the
generated words with single spaces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from converters.errors import DataError
from edge_sdk.preprocess.text import OOV_TOKEN, PAD_TOKEN, split_words

__all__ = ["END_TOKEN", "START_TOKEN", "TargetVocabulary", "normalize_text"]

START_TOKEN = "<start>"
END_TOKEN = "<end>"
_SPECIALS = (PAD_TOKEN, OOV_TOKEN, START_TOKEN, END_TOKEN)


def normalize_text(text: str) -> str:
    """The words a model is trained to write, joined by single spaces: the form references are scored in."""
    return " ".join(split_words(text, lowercase=True))


@dataclass(frozen=True)
class TargetVocabulary:
    """Ids 0..3 are ``<pad>``, ``<unk>``, ``<start>``, ``<end>``; ``steps`` decode steps fit the longest text
    and its end token."""

    words: tuple[str, ...]
    steps: int

    def __post_init__(self) -> None:
        if self.words[:4] != _SPECIALS:
            raise DataError(f"a target vocabulary starts with {list(_SPECIALS)}. Got: {list(self.words[:4])}")
        if self.steps < 2:
            raise DataError(f"a target needs at least 2 decode steps (a word and the end). Got: {self.steps}")

    pad_id = 0
    unk_id = 1
    start_id = 2
    end_id = 3

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1, max_words: int | None = None) -> TargetVocabulary:
        """Words by frequency then alphabetically; ``max_words`` None: the longest text's length."""
        split = [split_words(t, lowercase=True) for t in texts]
        if not split:
            raise DataError("cannot fit a target vocabulary on no texts")
        counts = Counter(w for words in split for w in words)
        words = sorted((w for w, c in counts.items() if c >= min_count and w not in _SPECIALS),
                       key=lambda w: (-counts[w], w))
        longest = max(len(words_of) for words_of in split)
        return cls((*_SPECIALS, *words), (max_words or longest) + 1)

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, text: str) -> list[int]:
        index = {w: i for i, w in enumerate(self.words)}
        return [index.get(w, self.unk_id) for w in split_words(text, lowercase=True)][:self.steps - 1]

    def teacher_forcing(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(N, steps) decoder inputs ``<start> w1 .. wn`` and targets ``w1 .. wn <end>``, 0-padded."""
        inputs = np.zeros((len(texts), self.steps), np.int32)
        targets = np.zeros((len(texts), self.steps), np.int32)
        for row, text in enumerate(texts):
            ids = self.ids(text)
            inputs[row, :len(ids) + 1] = [self.start_id, *ids]
            targets[row, :len(ids) + 1] = [*ids, self.end_id]
        return inputs, targets

    def text(self, ids: Iterable[int]) -> str:
        return " ".join(self.words[i] for i in ids)
