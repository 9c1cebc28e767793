"""BLEU-4 and CIDEr-D against hand-computed small cases, and their basic properties."""

from __future__ import annotations

import math

import pytest

from converters.captioning.metrics import cider_d, cider_d_scores, corpus_bleu4, normalise
from converters.errors import DataError


def test_bleu_of_a_hand_computed_case() -> None:
    # p1..p4 = 4/5, 3/4, 2/3, 1/2, same length: BLEU = (0.8 * 0.75 * 2/3 * 0.5) ** 0.25 = 0.2 ** 0.25
    assert corpus_bleu4(["a b c d e"], [["a b c d f"]]) == pytest.approx(100 * 0.2 ** 0.25, abs=1e-6)


def test_bleu_identical_is_100_disjoint_is_0_and_texts_are_normalised() -> None:
    assert corpus_bleu4(["a small red circle on the left"], [["A small red circle, on the LEFT."]]) == pytest.approx(100)
    assert corpus_bleu4(["one two three four"], [["five six seven eight"]]) == 0.0
    assert normalise("Finde den GRÜNEN Kreis!") == "finde den grünen kreis"


def test_bleu_takes_any_number_of_references_per_hypothesis() -> None:
    hyps = ["a red circle on the left", "a blue square in the centre"]
    refs = [["a red circle on the left"], ["a green square in the centre", "a blue square in the centre"]]
    assert corpus_bleu4(hyps, refs) == pytest.approx(100)


def test_cider_of_identical_two_word_captions() -> None:
    # every n-gram has df 1 of 2 images: weight ln 2; cosine 1 for n = 1, 2, nothing for n = 3, 4
    # (0 norms): (1 + 1 + 0 + 0) / 4 * 10 = 5 for each image.
    assert cider_d_scores(["a b", "c d"], [["a b"], ["c d"]]) == pytest.approx([5.0, 5.0])


def test_cider_clips_and_penalises_length_as_hand_computed() -> None:
    # hyp "x x y" vs ref "x y" (all weights ln 2 = L): n=1: (min(2L, L) L + L L) / (sqrt5 L sqrt2 L) = 2/sqrt10;
    # n=2: L L / (sqrt2 L L) = 1/sqrt2; n=3: ref has none; bigram lengths 2 vs 1: exp(-1/72).
    expected = (2 / math.sqrt(10) + 1 / math.sqrt(2)) * math.exp(-1 / 72) / 4 * 10
    scores = cider_d_scores(["x x y", "q"], [["x y"], ["z w"]])
    assert scores == pytest.approx([expected, 0.0])
    assert cider_d(["x x y", "q"], [["x y"], ["z w"]]) == pytest.approx(expected / 2)


def test_cider_properties() -> None:
    refs = [["a small red circle on the left"], ["a large blue square on the right"], ["an empty scene"]]
    perfect = cider_d([r[0] for r in refs], refs)
    assert perfect > 5
    assert cider_d(["one two three", "four five six", "seven eight"], refs) == 0.0
    worse = cider_d(["a small red circle on the right", "a large blue square on the right", "an empty scene"], refs)
    assert 0 < worse < perfect


def test_bad_inputs_are_named() -> None:
    with pytest.raises(DataError, match="one reference list per hypothesis. Got: 2 hypotheses, 1 lists"):
        corpus_bleu4(["a", "b"], [["a"]])
    with pytest.raises(DataError, match="at least one reference"):
        cider_d(["a"], [[]])
