"""Greedy and beam search over a hand-made Markov step model, and the generate task's options."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks import TaskSpec, beam_search, greedy_search, make_decoder
from edge_sdk.tasks.generate import GenerateOptions, Generation, Hypothesis, length_penalty

PAD, START, END = 0, 1, 2
LABELS = ("<pad>", "<start>", "<end>", "x", "y", "z", "w", "q")


def markov(rows: Mapping[int, Mapping[int, float]], vocab: int = len(LABELS)) -> np.ndarray:
    """A (V, V) log-prob table: row = previous token; mass left over is spread over the other tokens."""
    table = np.zeros((vocab, vocab))
    for prev in range(vocab):
        given = dict(rows.get(prev, {}))
        rest = [t for t in range(vocab) if t not in given]
        left = 1.0 - sum(given.values())
        assert left >= 0
        for t in rest:
            given[t] = left / len(rest) if left > 0 else 1e-12
        table[prev] = [given[t] for t in range(vocab)]
    return np.log(table / table.sum(axis=1, keepdims=True)).astype(np.float32)


class MarkovStep:
    """A StepFn over a Markov table (row = the token fed in); its state just echoes that token."""

    def __init__(self, table: np.ndarray) -> None:
        self.table, self.batches = table, []

    def __call__(self, tokens: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
        assert tokens.dtype == np.int32 and tokens.ndim == 1
        self.batches.append(tokens.shape[0])
        return self.table[tokens], {"prev": tokens[:, None].astype(np.int64)}


def initial() -> dict[str, np.ndarray]:
    return {"prev": np.array([[-1]], np.int64)}


# greedy takes x (0.5) then z (0.35) then end: 0.5 * 0.35 * 0.9; the beam finds y end: 0.4 * 0.95
DIVERGE = markov({START: {3: 0.5, 4: 0.4}, 3: {5: 0.35, 4: 0.33, END: 0.31}, 4: {END: 0.95}, 5: {END: 0.9}})
# x end sums higher; y z w end is longer and wins once the length is normalised
LENGTHY = markov({START: {3: 0.5, 4: 0.4}, 3: {END: 0.6}, 4: {5: 0.9}, 5: {6: 0.9}, 6: {END: 0.9}})


def exhaustive(table: np.ndarray, max_length: int, alpha: float) -> Hypothesis:
    """The best finished hypothesis over every sequence: what a wide enough beam must find."""
    best: Hypothesis | None = None
    content = [t for t in range(table.shape[0]) if t not in (START, END)]
    for n in range(max_length):
        for seq in itertools.product(content, repeat=n):
            prev, lps = START, []
            for token in (*seq, END):
                lps.append(float(table[prev, token]))
                prev = token
            score = math.fsum(lps) / length_penalty(len(lps), alpha)
            if best is None or score > best.score:
                best = Hypothesis(tuple(seq), tuple(lps), score, True)
    assert best is not None
    return best


def test_greedy_and_beam_differ_and_the_beam_finds_the_more_probable_caption() -> None:
    greedy = greedy_search(MarkovStep(DIVERGE), initial(), start_id=START, end_id=END, max_length=6)
    assert greedy.token_ids == (3, 5) and greedy.finished
    assert greedy.score == pytest.approx(math.log(0.5 * 0.35 * 0.9), abs=1e-5)
    assert len(greedy.token_log_probs) == 3  # x, z and the end token
    beams = beam_search(MarkovStep(DIVERGE), initial(), start_id=START, end_id=END, max_length=6, beam_size=2,
                        length_alpha=0.0)
    assert beams[0].token_ids == (4,) and beams[0].finished
    assert beams[0].score == pytest.approx(math.log(0.4 * 0.95), abs=1e-5)
    assert beams[0].score >= beams[1].score


def test_length_normalisation_changes_the_winner() -> None:
    plain = beam_search(MarkovStep(LENGTHY), initial(), start_id=START, end_id=END, max_length=8, beam_size=3,
                        length_alpha=0.0)
    normalised = beam_search(MarkovStep(LENGTHY), initial(), start_id=START, end_id=END, max_length=8,
                             beam_size=3, length_alpha=1.0)
    assert plain[0].token_ids == (3,)
    assert normalised[0].token_ids == (4, 5, 6)
    lps = normalised[0].token_log_probs
    assert normalised[0].score == pytest.approx(sum(lps) / ((5 + 4) / 6), abs=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("table", [DIVERGE, LENGTHY], ids=["diverge", "lengthy"])
def test_a_wide_beam_finds_the_exhaustive_optimum(table: np.ndarray, alpha: float) -> None:
    beams = beam_search(MarkovStep(table), initial(), start_id=START, end_id=END, max_length=5, beam_size=8,
                        length_alpha=alpha)
    best = exhaustive(table, 5, alpha)
    assert beams[0].token_ids == best.token_ids
    assert beams[0].score == pytest.approx(best.score, abs=1e-5)
    assert [b.score for b in beams] == sorted((b.score for b in beams), reverse=True)


class HistoryStep:
    """A StepFn whose log-probs depend on the whole history, carried only in the state: a search that
    reorders the state wrongly by the surviving beams' parents scores the wrong rows."""

    ROWS = 97

    def __init__(self, seed: int) -> None:
        logits = np.random.default_rng(seed).normal(scale=2.0, size=(self.ROWS, len(LABELS)))
        self.table = (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)

    @classmethod
    def advance(cls, history: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        return (history * 31 + tokens.astype(np.int64) + 1) % cls.ROWS

    def __call__(self, tokens: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
        history = self.advance(state["h"][:, 0], tokens)
        return self.table[history], {"h": history[:, None]}

    def best(self, max_length: int, alpha: float) -> Hypothesis:
        best: Hypothesis | None = None
        content = [t for t in range(len(LABELS)) if t not in (START, END)]
        for n in range(max_length):
            for seq in itertools.product(content, repeat=n):
                history, lps = np.zeros(1, np.int64), []
                for fed, token in zip((START, *seq), (*seq, END)):
                    history = self.advance(history, np.array([fed]))
                    lps.append(float(self.table[history[0], token]))
                score = math.fsum(lps) / length_penalty(len(lps), alpha)
                if best is None or score > best.score:
                    best = Hypothesis(tuple(seq), tuple(lps), score, True)
        assert best is not None
        return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_state_follows_the_surviving_beams_parents(seed: int) -> None:
    step = HistoryStep(seed)
    beams = beam_search(step, {"h": np.zeros((1, 1), np.int64)}, start_id=START, end_id=END, max_length=4,
                        beam_size=300, length_alpha=0.6)
    best = step.best(4, 0.6)
    assert beams[0].token_ids == best.token_ids
    assert beams[0].token_log_probs == pytest.approx(best.token_log_probs, abs=1e-6)


def test_random_tables_beam_one_is_greedy_and_wider_is_never_worse() -> None:
    rng = np.random.default_rng(3)
    for _ in range(25):
        logits = rng.normal(scale=2.0, size=(len(LABELS), len(LABELS)))
        table = (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)
        greedy = greedy_search(MarkovStep(table), initial(), start_id=START, end_id=END, max_length=6)
        one = beam_search(MarkovStep(table), initial(), start_id=START, end_id=END, max_length=6, beam_size=1,
                          length_alpha=0.0)
        assert one[0].token_ids == greedy.token_ids and one[0].finished == greedy.finished
        assert one[0].score == pytest.approx(greedy.score, abs=1e-6)
        if greedy.finished:
            wide = beam_search(MarkovStep(table), initial(), start_id=START, end_id=END, max_length=6, beam_size=4,
                               length_alpha=0.0)
            assert wide[0].score >= greedy.score - 1e-9


def test_max_length_stops_an_endless_hypothesis_unfinished() -> None:
    loop = markov({START: {3: 0.9}, 3: {3: 0.9}})  # x x x ... the end token is never likely
    greedy = greedy_search(MarkovStep(loop), initial(), start_id=START, end_id=END, max_length=4)
    assert greedy.token_ids == (3, 3, 3, 3) and not greedy.finished and len(greedy.token_log_probs) == 4
    never = markov({START: {3: 1.0}, 3: {3: 1.0}})  # end impossible: every beam ends at max_length
    beams = beam_search(MarkovStep(never), initial(), start_id=START, end_id=END, max_length=3, beam_size=2)
    assert beams[0].token_ids == (3, 3, 3) and not beams[0].finished
    assert all(len(b.token_ids) == 3 for b in beams)


def test_finished_hypotheses_rank_above_unfinished_ones_and_hold_at_most_max_length_minus_one_tokens() -> None:
    beams = beam_search(MarkovStep(DIVERGE), initial(), start_id=START, end_id=END, max_length=2, beam_size=3)
    assert [b.finished for b in beams] == sorted((b.finished for b in beams), reverse=True)
    assert all(len(b.token_ids) <= 1 for b in beams if b.finished)


def test_the_end_token_is_not_in_the_ids_and_the_step_batch_stays_the_beam_size() -> None:
    step = MarkovStep(DIVERGE)
    beams = beam_search(step, initial(), start_id=START, end_id=END, max_length=6, beam_size=3)
    assert all(END not in b.token_ids and START not in b.token_ids for b in beams)
    assert set(step.batches) == {3}  # one shape throughout: a device step keeps preallocated buffers


def test_ties_break_by_token_id_so_equal_step_functions_give_equal_beams() -> None:
    flat = np.log(np.full((len(LABELS), len(LABELS)), 1 / len(LABELS))).astype(np.float32)
    first = beam_search(MarkovStep(flat), initial(), start_id=START, end_id=END, max_length=3, beam_size=3)
    again = beam_search(MarkovStep(flat.copy()), initial(), start_id=START, end_id=END, max_length=3, beam_size=3)
    assert first == again
    assert first[0].token_ids == ()  # all equal: the shortest (the end token first) wins under a length penalty <= 1
    greedy = greedy_search(MarkovStep(flat), initial(), start_id=START, end_id=END, max_length=3)
    assert greedy.token_ids == (0, 0, 0)  # the lowest id wins every tie


def test_search_rejects_bad_arguments_and_broken_steps() -> None:
    with pytest.raises(InputError, match="beam_size: expected 1 or more. Got: 0"):
        beam_search(MarkovStep(DIVERGE), initial(), start_id=START, end_id=END, max_length=3, beam_size=0)
    with pytest.raises(InputError, match="max_length: expected 1 or more"):
        greedy_search(MarkovStep(DIVERGE), initial(), start_id=START, end_id=END, max_length=0)
    with pytest.raises(InputError, match=r"initial state 'prev': expected a leading batch dim of 1. Got shape \[2, 1\]"):
        greedy_search(MarkovStep(DIVERGE), {"prev": np.zeros((2, 1))}, start_id=START, end_id=END, max_length=3)

    def nan_step(tokens: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
        return np.full((tokens.shape[0], 4), np.nan, np.float32), dict(state)

    with pytest.raises(InputError, match="NaN or \\+infinity log-probs"):
        beam_search(nan_step, initial(), start_id=START, end_id=END, max_length=3, beam_size=2)

    def wrong_shape(tokens: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
        return np.zeros(4, np.float32), dict(state)

    with pytest.raises(InputError, match=r"expected log-probs of shape \[1, V\]. Got shape \[4\]"):
        greedy_search(wrong_shape, initial(), start_id=START, end_id=END, max_length=3)


PARAMS = {"start_id": START, "end_id": END, "state": {"state_h": "next_h", "state_c": "next_c"},
          "initial_state": {"init_h": "state_h", "init_c": "state_c"}, "memory": {"memory": "memory"},
          "max_length": 12}


def test_the_generate_spec_parses_its_options() -> None:
    spec = TaskSpec("generate", {"log_probs": "log_probs"}, LABELS, PARAMS)
    options = spec.options
    assert isinstance(options, GenerateOptions)
    assert options.beam_size == 3 and options.length_alpha == 0.6 and options.mode == "caption"
    assert dict(options.state) == {"state_h": "next_h", "state_c": "next_c"}
    assert options.encode_signature == "encode" and options.token_input == "token"
    assert TaskSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(("change", "message"), [
    ({"beam_size": 0}, "task 'generate' params.beam_size: expected 1 or more. Got: 0"),
    ({"end_id": START}, "params.end_id: expected an id other than start_id"),
    ({"mode": "summarise"}, "params.mode: expected one of 'caption', 'translate'. Got: 'summarise'"),
    ({"state": "state_h"}, "params.state: expected a mapping with non-empty string keys. Got: 'state_h'"),
    ({"state": {"state_h": 3}}, "params.state.state_h: expected a string. Got: 3"),
    ({"initial_state": {"init_h": "state_h"}}, "params.initial_state: expected one encode output for each state"),
    ({"length_alpha": -1}, "params.length_alpha: expected a finite number, 0 or more"),
    ({"start_id": 99}, "special token id 99 is outside the vocabulary of 8 labels"),
    ({"beam": 3}, "params.beam: unknown option. Valid options: beam_size, encode_signature"),
])
def test_bad_generate_options_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        TaskSpec("generate", {"log_probs": "log_probs"}, LABELS, {**PARAMS, **change})


def test_a_generate_spec_needs_its_log_probs_role_and_a_vocabulary() -> None:
    with pytest.raises(BundleError, match="expected the one role 'log_probs'. Got: scores"):
        TaskSpec("generate", {"scores": "log_probs"}, LABELS, PARAMS)
    with pytest.raises(BundleError, match="expected the target vocabulary"):
        TaskSpec("generate", {"log_probs": "log_probs"}, (), PARAMS)
    missing = {k: v for k, v in PARAMS.items() if k != "state"}
    with pytest.raises(BundleError, match="params.state: missing. Expected decode_step state input"):
        TaskSpec("generate", {"log_probs": "log_probs"}, LABELS, missing)


def test_the_decoder_reads_one_step_and_the_result_is_json() -> None:
    spec = TaskSpec("generate", {"log_probs": "lp"}, LABELS, PARAMS)
    decoder = make_decoder(spec)
    one = decoder.decode({"lp": DIVERGE[[START]]})
    assert isinstance(one, Generation) and one.text == "x" and one.token_ids == (3,)
    with pytest.raises(InputError, match=r"should have shape \[B, 8\]"):
        decoder.decode({"lp": np.zeros((1, 5), np.float32)})
    beams = beam_search(MarkovStep(DIVERGE), initial(), start_id=START, end_id=END, max_length=6, beam_size=2)
    result = Generation.from_hypothesis(beams[0], LABELS, beam_size=2)
    payload = result.to_json()
    assert payload["text"] == "y" and payload["tokens"] == ["y"] and payload["beam_size"] == 2
    assert len(payload["token_log_probs"]) == 2 and payload["finished"] is True
