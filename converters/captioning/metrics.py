"""Corpus BLEU-4 (sacreBLEU) and CIDEr-D (own implementation) for captions and translations.

Both metrics first normalise every text the way the models see it: the shared tokenizer's words
(:func:`edge_sdk.preprocess.text.split_words`: lower case, punctuation dropped, umlauts kept),
joined by single spaces. A caption reference "a red circle on the left, a blue square ..." and a
generated "a red circle on the left a blue square ..." are then the same text; the comma is not a
word the decoder can emit.

``corpus_bleu4`` is sacreBLEU's corpus BLEU (n = 1..4, brevity penalty, no smoothing needed at
corpus level; tokenizer ``13a`` over the normalised text), 0-100. ``cider_d`` follows coco-caption's
``CiderD`` (Vedantam et al., 2015) line by line: n-grams 1..4; TF-IDF vectors whose document
frequency counts, per n-gram, the reference *sets* containing it (over the evaluated corpus, with
``log(number of images)`` as the corpus size); candidate TF-IDF values clipped by the reference's
(``min(vec_hyp, vec_ref) * vec_ref``); cosine per n; a Gaussian penalty ``exp(-delta**2 / (2 *
6**2))`` on the length difference; mean over n and over the references; times 10. As in
coco-caption, the "length" is the number of bigrams (words - 1), so delta is the word-count
difference for texts of two words or more.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from converters.errors import DataError
from edge_sdk._lazy import require
from edge_sdk.preprocess.text import split_words

__all__ = ["cider_d", "cider_d_scores", "corpus_bleu4", "normalise"]

_N = 4
_SIGMA = 6.0


def normalise(text: str) -> str:
    """The text as the metrics compare it: tokenizer words joined by single spaces."""
    return " ".join(split_words(text))


def _check(hyps: Sequence[str], refs_list: Sequence[Sequence[str]]) -> None:
    if len(hyps) != len(refs_list):
        raise DataError(f"one reference list per hypothesis. Got: {len(hyps)} hypotheses, {len(refs_list)} lists")
    if not hyps:
        raise DataError("metrics need at least one hypothesis. Got: 0")
    empty = [i for i, refs in enumerate(refs_list) if not refs]
    if empty:
        raise DataError(f"every hypothesis needs at least one reference. Got: none for hypotheses {empty[:5]}")


def corpus_bleu4(hyps: Sequence[str], refs_list: Sequence[Sequence[str]]) -> float:
    """sacreBLEU corpus BLEU-4, 0-100; ``refs_list[i]`` holds the references of ``hyps[i]`` (any count)."""
    _check(hyps, refs_list)
    sacrebleu = require("sacrebleu", "scoring captions and translations")
    width = max(len(refs) for refs in refs_list)
    streams = [[normalise(refs[k]) if k < len(refs) else None for refs in refs_list] for k in range(width)]
    return float(sacrebleu.corpus_bleu([normalise(h) for h in hyps], streams, tokenize="13a").score)


def _ngrams(words: list[str]) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i:i + n]) for n in range(1, _N + 1) for i in range(len(words) - n + 1))


def _vector(counts: Counter[tuple[str, ...]], df: Counter[tuple[str, ...]], log_images: float
            ) -> tuple[list[dict[tuple[str, ...], float]], list[float], int]:
    vec: list[dict[tuple[str, ...], float]] = [{} for _ in range(_N)]
    norm = [0.0] * _N
    length = 0
    for gram, term_freq in counts.items():
        n = len(gram) - 1
        value = float(term_freq) * (log_images - math.log(max(1.0, float(df[gram]))))
        vec[n][gram] = value
        norm[n] += value * value
        if n == 1:  # coco-caption counts bigrams as the length
            length += term_freq
    return vec, [math.sqrt(v) for v in norm], length


def _similarity(hyp: tuple[list[dict[tuple[str, ...], float]], list[float], int],
                ref: tuple[list[dict[tuple[str, ...], float]], list[float], int]) -> list[float]:
    (vec_h, norm_h, len_h), (vec_r, norm_r, len_r) = hyp, ref
    delta = float(len_h - len_r)
    values = [0.0] * _N
    for n in range(_N):
        for gram, value in vec_h[n].items():
            if gram in vec_r[n]:
                values[n] += min(value, vec_r[n][gram]) * vec_r[n][gram]
        if norm_h[n] != 0 and norm_r[n] != 0:
            values[n] /= norm_h[n] * norm_r[n]
        values[n] *= math.exp(-(delta ** 2) / (2 * _SIGMA ** 2))
    return values


def cider_d_scores(hyps: Sequence[str], refs_list: Sequence[Sequence[str]]) -> list[float]:
    """CIDEr-D of each hypothesis against its references, with document frequencies over this corpus."""
    _check(hyps, refs_list)
    ref_counts = [[_ngrams(split_words(r)) for r in refs] for refs in refs_list]
    df: Counter[tuple[str, ...]] = Counter()
    for counts in ref_counts:
        df.update({gram for c in counts for gram in c})
    log_images = math.log(float(len(refs_list)))
    scores = []
    for hyp, counts in zip(hyps, ref_counts, strict=True):
        vec_h = _vector(_ngrams(split_words(hyp)), df, log_images)
        total = [0.0] * _N
        for ref in counts:
            total = [a + b for a, b in zip(total, _similarity(vec_h, _vector(ref, df, log_images)), strict=True)]
        scores.append(sum(total) / _N / len(counts) * 10.0)
    return scores


def cider_d(hyps: Sequence[str], refs_list: Sequence[Sequence[str]]) -> float:
    """Corpus CIDEr-D: the mean of :func:`cider_d_scores` (coco-caption's reported figure, 0-10 typically)."""
    scores = cider_d_scores(hyps, refs_list)
    return sum(scores) / len(scores)
