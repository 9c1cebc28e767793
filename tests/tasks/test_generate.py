"""Greedy and beam search over a step function, and the generate task's options.

The step function here is a hand-made prefix tree (a fake decoder, for fast unit tests): the state
carries the prefix's code, so a search that reordered the state wrongly would look up the wrong
distribution and return the wrong beams.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks import Generation, TaskSpec, beam_search, greedy_search, make_decoder
from edge_sdk.tasks.generate import GenerateOptions, Hypothesis, length_penalty

PAD, START, END, A, B, C, D = range(7)
VOCAB = ("<pad>", "<start>", "<end>", "a", "b", "c", "d")
FLOOR = 1e-9

# prefix -> next-token probabilities; any other prefix ends with certainty
TREE: dict[tuple[int, ...], dict[int, float]] = {
    (): {A: 0.6, B: 0.4},
    (A,): {C: 0.4, D: 0.3, END: 0.3},
    (B,): {END: 0.9, C: 0.1},
}


class PrefixTree:
    """Log-probs from TREE; the state is one float per beam: the index of its prefix in ``self.prefixes``."""

    def __init__(self, tree: Mapping[tuple[int, ...], Mapping[int, float]], default_end: bool = True) -> None:
        self.tree = tree
        self.default_end = default_end
        self.prefixes: list[tuple[int, ...]] = [()]
        self.calls = 0

    def initial_state(self) -> dict[str, np.ndarray]:
        return {"prefix": np.zeros((1, 1), dtype=np.float64)}

    def __call__(self, tokens: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        self.calls += 1
        assert tokens.dtype == np.int32 and tokens.ndim == 1
        log_probs = np.empty((len(tokens), len(VOCAB)), dtype=np.float32)
        codes = np.empty_like(state["prefix"])
        for row, (token, code) in enumerate(zip(tokens, state["prefix"][:, 0], strict=True)):
            prefix = self.prefixes[int(code)]
            if token != START:
                prefix = (*prefix, int(token))
            probs = np.full(len(VOCAB), FLOOR)
            table = self.tree.get(prefix, {END: 1.0} if self.default_end else {A: 1.0})
            for next_token, p in table.items():
                probs[next_token] = p
            log_probs[row] = np.log(probs / probs.sum())
            self.prefixes.append(prefix)
            codes[row, 0] = len(self.prefixes) - 1
        return log_probs, {"prefix": codes}


def test_greedy_takes_the_locally_best_token_and_beam_finds_the_better_sequence() -> None:
    tree = PrefixTree(TREE)
    greedy = greedy_search(tree, tree.initial_state(), start_id=START, end_id=END, max_length=5)
    assert greedy.token_ids == (A, C) and greedy.finished
    assert math.exp(greedy.score) == pytest.approx(0.6 * 0.4, rel=1e-5)
    tree = PrefixTree(TREE)
    beams = beam_search(tree, tree.initial_state(), start_id=START, end_id=END, max_length=5, beam_size=2,
                        length_alpha=0.0)
    assert [b.token_ids for b in beams] == [(B,), (A, C)]
    assert math.exp(beams[0].score) == pytest.approx(0.4 * 0.9, rel=1e-5)
    assert len(beams[0].token_log_probs) == 2  # "b" and the end token
    assert all(b.finished for b in beams)


def test_length_normalisation_changes_the_winner() -> None:
    tree = PrefixTree(TREE)
    beams = beam_search(tree, tree.initial_state(), start_id=START, end_id=END, max_length=5, beam_size=2,
                        length_alpha=3.0)
    assert beams[0].token_ids == (A, C)
    raw = math.log(0.6 * 0.4)
    assert beams[0].score == pytest.approx(raw / length_penalty(3, 3.0), rel=1e-5)
    assert length_penalty(3, 0.0) == 1.0 and length_penalty(1, 1.0) == 1.0


def test_beam_of_one_without_length_penalty_is_greedy() -> None:
    rng = np.random.default_rng(3)
    tree_table = {(): {A: 0.5, B: 0.5}}
    for _ in range(40):
        prefix = tuple(int(t) for t in rng.integers(A, D + 1, size=rng.integers(1, 4)))
        tree_table[prefix] = {int(t): float(p) for t, p in zip(range(END, D + 1), rng.dirichlet(np.ones(5)), strict=True)}
    greedy_tree, beam_tree = PrefixTree(tree_table), PrefixTree(tree_table)
    greedy = greedy_search(greedy_tree, greedy_tree.initial_state(), start_id=START, end_id=END, max_length=6)
    (beam,) = beam_search(beam_tree, beam_tree.initial_state(), start_id=START, end_id=END, max_length=6,
                          beam_size=1, length_alpha=0.0)
    assert beam.token_ids == greedy.token_ids and beam.finished == greedy.finished
    assert beam.score == pytest.approx(greedy.score, rel=1e-9)


def test_ties_go_to_the_lowest_token_id() -> None:
    tree = PrefixTree({(): {A: 0.5, B: 0.5}})
    assert greedy_search(tree, tree.initial_state(), start_id=START, end_id=END, max_length=3).token_ids == (A,)
    tree = PrefixTree({(): {A: 0.5, B: 0.5}})
    beams = beam_search(tree, tree.initial_state(), start_id=START, end_id=END, max_length=3, beam_size=2)
    assert [b.token_ids for b in beams] == [(A,), (B,)]


def test_max_length_stops_a_sequence_that_never_ends() -> None:
    tree = PrefixTree({}, default_end=False)
    hyp = greedy_search(tree, tree.initial_state(), start_id=START, end_id=END, max_length=4)
    assert hyp == Hypothesis((A, A, A, A), hyp.token_log_probs, hyp.score, False)
    tree = PrefixTree({}, default_end=False)
    beams = beam_search(tree, tree.initial_state(), start_id=START, end_id=END, max_length=4, beam_size=3)
    assert beams[0].token_ids == (A, A, A, A) and not beams[0].finished
    assert tree.calls == 4  # one step per decode position, the beam batched into each call


def test_the_step_always_sees_a_full_beam_and_bad_steps_are_named() -> None:
    seen: list[int] = []
    tree = PrefixTree(TREE)

    def step(tokens: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        seen.append(len(tokens))
        return tree(tokens, state)

    beam_search(step, tree.initial_state(), start_id=START, end_id=END, max_length=5, beam_size=4)
    assert set(seen) == {4}

    def wrong_shape(tokens: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return np.zeros((1, len(VOCAB), 1), np.float32), dict(state)

    with pytest.raises(InputError, match=r"expected log-probs of shape \[2, V\]"):
        beam_search(wrong_shape, tree.initial_state(), start_id=START, end_id=END, max_length=3, beam_size=2)

    def nan_step(tokens: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return np.full((len(tokens), len(VOCAB)), np.nan, np.float32), dict(state)

    with pytest.raises(InputError, match=r"NaN or \+infinity"):
        greedy_search(nan_step, tree.initial_state(), start_id=START, end_id=END, max_length=3)
    with pytest.raises(InputError, match=r"leading batch dim of 1"):
        greedy_search(tree, {"prefix": np.zeros((2, 1))}, start_id=START, end_id=END, max_length=3)
    with pytest.raises(InputError, match=r"beam_size: expected 1 or more"):
        beam_search(tree, tree.initial_state(), start_id=START, end_id=END, max_length=3, beam_size=0)


PARAMS = {"start_id": START, "end_id": END, "state": {"state_h": "next_h", "state_c": "next_c"},
          "initial_state": {"init_h": "state_h", "init_c": "state_c"}, "memory": {"memory": "memory"}}


def test_generate_task_spec_round_trips_and_checks_its_wiring() -> None:
    spec = TaskSpec("generate", {"log_probs": "log_probs"}, VOCAB, PARAMS)
    options = spec.options
    assert isinstance(options, GenerateOptions)
    assert dict(options.state) == {"state_h": "next_h", "state_c": "next_c"} and options.beam_size == 3
    assert TaskSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(BundleError, match=r"initial_state.*one encode output for each state input"):
        TaskSpec("generate", {"log_probs": "log_probs"}, VOCAB, {**PARAMS, "initial_state": {"init_h": "state_h"}})
    with pytest.raises(BundleError, match=r"outside the vocabulary of 3 labels"):
        TaskSpec("generate", {"log_probs": "log_probs"}, VOCAB[:3], {**PARAMS, "end_id": 5})
    with pytest.raises(BundleError, match=r"expected the target vocabulary"):
        TaskSpec("generate", {"log_probs": "log_probs"}, (), PARAMS)
    with pytest.raises(BundleError, match=r"expected a mapping with non-empty string keys"):
        TaskSpec("generate", {"log_probs": "log_probs"}, VOCAB, {**PARAMS, "memory": ["memory"]})
    with pytest.raises(BundleError, match=r"expected the one role 'log_probs'"):
        TaskSpec("generate", {"scores": "log_probs"}, VOCAB, PARAMS)


def test_a_generation_has_a_json_form_and_the_decoder_checks_the_vocabulary() -> None:
    spec = TaskSpec("generate", {"log_probs": "lp"}, VOCAB, PARAMS)
    decoder = make_decoder(spec)
    row = np.log(np.array([[FLOOR, FLOOR, 0.1, 0.2, 0.7 - 3 * FLOOR, FLOOR, FLOOR]], np.float32))
    result = decoder.decode({"lp": row})
    assert isinstance(result, Generation) and result.text == "b" and not result.finished
    hyp = Hypothesis((B, A), (-0.1, -0.2, -0.05), -0.35, True)
    generation = Generation.from_hypothesis(hyp, VOCAB, beam_size=3)
    assert generation.to_json() == {"text": "b a", "tokens": ["b", "a"], "token_ids": [B, A],
                                    "token_log_probs": [-0.1, -0.2, -0.05], "score": -0.35, "finished": True,
                                    "beam_size": 3}
    with pytest.raises(InputError, match=r"should have shape \[B, 7\]"):
        decoder.decode({"lp": np.zeros((1, 5), np.float32)})
    with pytest.raises(InputError, match=r"outside the target vocabulary"):
        Generation.from_hypothesis(Hypothesis((99,), (-1.0,), -1.0, False), VOCAB, beam_size=1)
