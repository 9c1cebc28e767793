"""The word tokenizer shared by training and serving.

Deliberately simple and fully described by its manifest entry (vocabulary, lowercasing, max length,
padding side, pad and out-of-vocabulary ids), so any runtime can reproduce it exactly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from edge_sdk.errors import InputError

__all__ = ["OOV_TOKEN", "PAD_TOKEN", "Tokenizer", "TokenizerSpec"]

PAD_TOKEN = "<pad>"
OOV_TOKEN = "<unk>"
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


@dataclass(frozen=True)
class TokenizerSpec:
    """Word-level tokenizer contract. Id 0 pads, id 1 is out-of-vocabulary.

    Padding is ``pre`` by default: an RNN without masking then ends on the last real word, which is
    what the fused model's text branch reads.
    """

    vocabulary: tuple[str, ...]
    max_length: int
    lowercase: bool = True
    padding: Literal["pre", "post"] = "pre"
    truncation: Literal["pre", "post"] = "post"

    def __post_init__(self) -> None:
        if self.max_length <= 0:
            raise InputError(f"tokenizer max_length must be positive. Got: {self.max_length}")
        if len(self.vocabulary) < 2 or self.vocabulary[0] != PAD_TOKEN or self.vocabulary[1] != OOV_TOKEN:
            raise InputError(
                f"tokenizer vocabulary must start with {PAD_TOKEN!r}, {OOV_TOKEN!r}. Got: {list(self.vocabulary[:2])}"
            )

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def oov_id(self) -> int:
        return 1

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": "text",
            "vocabulary": list(self.vocabulary),
            "max_length": self.max_length,
            "lowercase": self.lowercase,
            "padding": self.padding,
            "truncation": self.truncation,
            "pad_id": self.pad_id,
            "oov_id": self.oov_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TokenizerSpec:
        return cls(
            vocabulary=tuple(data["vocabulary"]),  # type: ignore[arg-type]
            max_length=int(data["max_length"]),  # type: ignore[call-overload]
            lowercase=bool(data.get("lowercase", True)),
            padding=data.get("padding", "pre"),  # type: ignore[arg-type]
            truncation=data.get("truncation", "post"),  # type: ignore[arg-type]
        )


def split_words(text: str, lowercase: bool = True) -> list[str]:
    return _WORD.findall(text.lower() if lowercase else text)


class Tokenizer:
    """Turns text into a fixed-length int32 id vector; results for repeated prompts are cached."""

    def __init__(self, spec: TokenizerSpec) -> None:
        self.spec = spec
        self._ids = {word: index for index, word in enumerate(spec.vocabulary)}
        self._encode_cached = lru_cache(maxsize=256)(self._encode)

    @classmethod
    def fit(cls, texts: Iterable[str], max_length: int, min_count: int = 1, lowercase: bool = True) -> Tokenizer:
        """Build a vocabulary from training texts, ordered by frequency then alphabetically."""
        counts = Counter(word for text in texts for word in split_words(text, lowercase))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(TokenizerSpec(vocabulary=(PAD_TOKEN, OOV_TOKEN, *words), max_length=max_length, lowercase=lowercase))

    def encode(self, text: str) -> np.ndarray:
        """Ids of shape (max_length,), int32. The returned array is shared: do not modify it."""
        if not isinstance(text, str):
            raise InputError(f"text input must be a string. Got: {type(text).__name__}")
        return self._encode_cached(text)

    def encode_batch(self, texts: Iterable[str]) -> np.ndarray:
        encoded = [self.encode(str(t)) for t in texts]
        return np.stack(encoded) if encoded else np.zeros((0, self.spec.max_length), np.int32)

    def words_out_of_vocabulary(self, text: str) -> list[str]:
        return [w for w in split_words(text, self.spec.lowercase) if w not in self._ids]

    def _encode(self, text: str) -> np.ndarray:
        spec = self.spec
        ids = [self._ids.get(word, spec.oov_id) for word in split_words(text, spec.lowercase)]
        if len(ids) > spec.max_length:
            ids = ids[: spec.max_length] if spec.truncation == "post" else ids[-spec.max_length :]
        out = np.zeros(spec.max_length, dtype=np.int32)
        if ids:
            if spec.padding == "pre":
                out[spec.max_length - len(ids) :] = ids
            else:
                out[: len(ids)] = ids
        out.setflags(write=False)
        return out
