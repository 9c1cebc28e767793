"""Generate: text one token at a time from a step model (captioning, image-conditioned translation).

A generating bundle has two signatures: ``encode`` (image, and source text for translation -> the
attention memory and the decoder's initial state) and ``decode_step`` (previous token, state,
memory -> next-token log-probabilities, new state). The ``generate`` task lives on
``decode_step``; its options (:class:`GenerateOptions`) say how the tensors are wired between the
two and how to search.

The search is numpy only and model-agnostic: a :class:`StepFn` maps tokens ``(B,)`` and a state
(every array with leading dim ``B``) to log-probs ``(B, V)`` and the new state. The same
:func:`greedy_search` / :func:`beam_search` run over Keras on the host and over TFLite on the
device, so two step functions that agree on log-probs produce identical beams: ties are broken by
token id, then by parent beam, never by float noise of a sort.

``max_length`` counts decode steps: a finished hypothesis holds at most ``max_length - 1`` tokens
plus the end token; one that never chose the end token stops at ``max_length`` tokens, unfinished.
The score is the sum of the token log-probs (the end token's included) divided by GNMT's length
penalty ``((5 + n) / 6) ** length_alpha`` with ``n`` the number of log-probs summed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import numpy.typing as npt

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks._options import check, parse_options
from edge_sdk.tasks.base import Decoder, PointTransform, TaskKind, TaskResult, TaskSpec, finite

__all__ = ["GenerateDecoder", "GenerateOptions", "Generation", "Hypothesis", "StepFn", "beam_search", "decoder",
           "detokenize", "greedy_search", "length_penalty", "validate"]

State = Mapping[str, npt.NDArray[Any]]


class StepFn(Protocol):
    """One decoder step over a batch of hypotheses."""

    def __call__(self, tokens: npt.NDArray[np.int32],
                 state: State) -> tuple[npt.NDArray[np.float32], dict[str, npt.NDArray[Any]]]:
        """``tokens`` int32 ``(B,)``; every state array has leading dim ``B``. Returns log-probs float32
        ``(B, V)`` (a log-softmax over the target vocabulary) and the new state (same keys, same shapes)."""
        ...


@dataclass(frozen=True)
class Hypothesis:
    """One searched sequence; ``token_ids`` has neither the start nor the end id."""

    token_ids: tuple[int, ...]
    token_log_probs: tuple[float, ...]  # one per generated token, plus the end token's when finished
    score: float  # sum of log-probs / length_penalty(len(token_log_probs)); higher is better
    finished: bool  # ended with end_id (False: hit max_length)


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's ``((5 + length) / 6) ** alpha``; 1 for ``alpha == 0`` (a plain sum)."""
    return 1.0 if alpha == 0 else float(((5.0 + length) / 6.0) ** alpha)


def _check_search(start_id: int, end_id: int, max_length: int, beam_size: int = 1, length_alpha: float = 0.0) -> None:
    if max_length < 1:
        raise InputError(f"max_length: expected 1 or more decode steps. Got: {max_length}")
    if beam_size < 1:
        raise InputError(f"beam_size: expected 1 or more. Got: {beam_size}")
    if start_id < 0 or end_id < 0:
        raise InputError(f"start_id and end_id: expected token ids (0 or more). Got: start_id={start_id}, "
                         f"end_id={end_id}")
    if not math.isfinite(length_alpha) or length_alpha < 0:
        raise InputError(f"length_alpha: expected a finite number, 0 or more. Got: {length_alpha}")


def _step(step: StepFn, tokens: npt.NDArray[np.int32], state: State,
          batch: int) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[Any]]]:
    log_probs, new_state = step(tokens, state)
    scores = np.asarray(log_probs, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != batch:
        raise InputError(f"step function: expected log-probs of shape [{batch}, V]. Got shape {list(scores.shape)}")
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise InputError("step function returned NaN or +infinity log-probs; the decoder model is broken")
    if set(new_state) != set(state):
        raise InputError(f"step function: expected the new state to have keys {sorted(state)}. Got: "
                         f"{sorted(new_state)}")
    return scores, dict(new_state)


def greedy_search(step: StepFn, initial_state: State, *, start_id: int, end_id: int, max_length: int) -> Hypothesis:
    """The most probable token at every step (ties: the lowest id); score is the plain log-prob sum."""
    _check_search(start_id, end_id, max_length)
    state: dict[str, npt.NDArray[Any]] = {name: _batch1(name, array) for name, array in initial_state.items()}
    tokens = np.array([start_id], dtype=np.int32)
    ids: list[int] = []
    log_probs: list[float] = []
    for _ in range(max_length):
        scores, state = _step(step, tokens, state, 1)
        token = int(np.argmax(scores[0]))  # argmax returns the first maximum: the lowest id wins a tie
        log_probs.append(float(scores[0, token]))
        if token == end_id:
            return Hypothesis(tuple(ids), tuple(log_probs), math.fsum(log_probs), True)
        ids.append(token)
        tokens[0] = token
    return Hypothesis(tuple(ids), tuple(log_probs), math.fsum(log_probs), False)


def _batch1(name: str, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array = np.asarray(array)
    if array.ndim == 0 or array.shape[0] != 1:
        raise InputError(f"initial state {name!r}: expected a leading batch dim of 1. Got shape {list(array.shape)}")
    return array


@dataclass
class _Beam:
    ids: list[list[int]]
    log_probs: list[list[float]]
    sums: npt.NDArray[np.float64]  # -inf marks a padding slot (fewer live hypotheses than beams)


def _ranked(hypotheses: list[Hypothesis]) -> list[Hypothesis]:
    return sorted(hypotheses, key=lambda h: (-h.score, h.token_ids))


def beam_search(step: StepFn, initial_state: State, *, start_id: int, end_id: int, max_length: int,
                beam_size: int, length_alpha: float = 0.6) -> list[Hypothesis]:
    """The ``beam_size`` best hypotheses, best first; finished ones rank above unfinished ones.

    The step function always sees a batch of ``beam_size`` (padding slots repeat a live beam and
    are ignored), so a device step can keep preallocated buffers of one shape. The search stops
    when ``beam_size`` hypotheses have finished and no live one can still beat the worst of them
    (a live sum only falls, and its length penalty is at most the one at ``max_length``). With
    ``beam_size=1`` and ``length_alpha=0`` it returns what :func:`greedy_search` returns.
    """
    _check_search(start_id, end_id, max_length, beam_size, length_alpha)
    state = {name: np.repeat(_batch1(name, array), beam_size, axis=0) for name, array in initial_state.items()}
    tokens = np.full(beam_size, start_id, dtype=np.int32)
    sums = np.full(beam_size, -np.inf)
    sums[0] = 0.0  # all beams start equal: only one may expand, or the first step yields duplicates
    beam = _Beam([[] for _ in range(beam_size)], [[] for _ in range(beam_size)], sums)
    finished: list[Hypothesis] = []
    for length in range(1, max_length + 1):
        scores, state = _step(step, tokens, state, beam_size)
        vocab = scores.shape[1]
        totals = (beam.sums[:, None] + scores).reshape(-1)
        flat = np.arange(totals.size)
        parents, token_ids = flat // vocab, flat % vocab
        order = np.lexsort((parents, token_ids, -totals))  # best total, then lowest token id, then parent
        live: list[tuple[int, int, float]] = []
        taken = 0  # non-end candidates kept: live ones, or unfinished ones at max_length
        for index in order:
            total = float(totals[index])
            if total == -np.inf:
                break  # sorted: the rest are impossible (padding slots or a log-prob of -inf)
            parent, token = int(parents[index]), int(token_ids[index])
            if token == end_id:
                lps = (*beam.log_probs[parent], float(scores[parent, token]))
                finished.append(Hypothesis(tuple(beam.ids[parent]), lps,
                                           total / length_penalty(len(lps), length_alpha), True))
            elif length < max_length:
                live.append((parent, token, total))
                taken += 1
            else:
                taken += 1
                lps = (*beam.log_probs[parent], float(scores[parent, token]))
                finished.append(Hypothesis((*beam.ids[parent], token), lps,
                                           total / length_penalty(len(lps), length_alpha), False))
            if taken == beam_size:
                break
        if not live or _settled(finished, live, beam_size, max_length, length_alpha):
            break
        beam, tokens, state = _advance(beam, live, scores, state, beam_size)
    done = _ranked([h for h in finished if h.finished])
    if len(done) < beam_size:
        done += _ranked([h for h in finished if not h.finished])
    return done[:beam_size]


def _settled(finished: list[Hypothesis], live: list[tuple[int, int, float]], beam_size: int, max_length: int,
             length_alpha: float) -> bool:
    done = _ranked([h for h in finished if h.finished])
    if len(done) < beam_size:
        return False
    best_live_sum = max(total for _, _, total in live)
    best_possible = best_live_sum / length_penalty(max_length, length_alpha)  # sum <= 0: the largest divisor wins
    return done[beam_size - 1].score >= best_possible


def _advance(beam: _Beam, live: list[tuple[int, int, float]], scores: npt.NDArray[np.float64],
             state: dict[str, npt.NDArray[Any]],
             beam_size: int) -> tuple[_Beam, npt.NDArray[np.int32], dict[str, npt.NDArray[Any]]]:
    padded = live + [live[0]] * (beam_size - len(live))  # padding repeats a live beam with a sum of -inf
    parents = np.array([parent for parent, _, _ in padded], dtype=np.int64)
    tokens = np.array([token for _, token, _ in padded], dtype=np.int32)
    sums = np.array([total for _, _, total in live] + [-np.inf] * (beam_size - len(live)))
    ids = [[*beam.ids[p], t] for p, t, _ in padded]
    log_probs = [[*beam.log_probs[p], float(scores[p, t])] for p, t, _ in padded]
    state = {name: np.take(array, parents, axis=0) for name, array in state.items()}
    return _Beam(ids, log_probs, sums), tokens, state


def detokenize(token_ids: tuple[int, ...], labels: tuple[str, ...]) -> str:
    """``" ".join(labels[i] ...)``; an id outside the vocabulary is an :class:`InputError`."""
    words = []
    for token in token_ids:
        if not 0 <= token < len(labels):
            raise InputError(f"token id {token} is outside the target vocabulary of {len(labels)} labels")
        words.append(labels[token])
    return " ".join(words)


@dataclass(frozen=True)
class GenerateOptions:
    """How ``encode`` and ``decode_step`` are wired, and how to search (the ``generate`` task's params)."""

    start_id: int
    end_id: int
    state: Mapping[str, str] = field(metadata={"help": "decode_step state input -> the output that updates it"})
    initial_state: Mapping[str, str] = field(metadata={"help": "encode output -> decode_step state input"})
    memory: Mapping[str, str] = field(default_factory=dict)  # encode output -> decode_step input, constant
    encode_signature: str = "encode"
    token_input: str = "token"
    pad_id: int = 0
    max_length: int = 20
    beam_size: int = 3
    length_alpha: float = 0.6
    mode: Literal["caption", "translate"] = "caption"

    def __post_init__(self) -> None:
        for name in ("start_id", "end_id", "pad_id"):
            check(getattr(self, name) >= 0, name, f"expected a token id, 0 or more. Got: {getattr(self, name)}")
        check(self.start_id != self.end_id, "end_id", f"expected an id other than start_id. Got: {self.end_id}")
        check(self.max_length >= 1, "max_length", f"expected 1 or more decode steps. Got: {self.max_length}")
        check(self.beam_size >= 1, "beam_size", f"expected 1 or more. Got: {self.beam_size}")
        check(math.isfinite(self.length_alpha) and self.length_alpha >= 0, "length_alpha",
              f"expected a finite number, 0 or more. Got: {self.length_alpha}")
        check(bool(self.encode_signature), "encode_signature", "expected the encode signature's key. Got: ''")
        check(bool(self.token_input), "token_input", "expected the decode_step token input's name. Got: ''")
        check(bool(self.state), "state", "expected at least one state input -> output pair. Got: {}")
        check(set(self.initial_state.values()) == set(self.state), "initial_state",
              f"expected one encode output for each state input {sorted(self.state)}. Got: "
              f"{sorted(self.initial_state.values())}")
        inputs = [self.token_input, *self.state, *self.memory.values()]
        check(len(set(inputs)) == len(inputs), "memory",
              f"expected token, state and memory inputs of decode_step to be distinct. Got: {inputs}")
        for name in ("state", "initial_state", "memory"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


@dataclass(frozen=True)
class Generation(TaskResult):
    """Generated text: the best hypothesis with its tokens, log-probs, score and the search that made it."""

    kind: ClassVar[TaskKind] = "generate"
    text: str
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    token_log_probs: tuple[float, ...]
    score: float
    finished: bool
    beam_size: int

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "tokens": list(self.tokens), "token_ids": list(self.token_ids),
                "token_log_probs": [finite(v, "generate token_log_probs") for v in self.token_log_probs],
                "score": finite(self.score, "generate score"), "finished": self.finished, "beam_size": self.beam_size}

    @classmethod
    def from_hypothesis(cls, hypothesis: Hypothesis, labels: tuple[str, ...], beam_size: int) -> Generation:
        tokens = tuple(detokenize((t,), labels) for t in hypothesis.token_ids)
        return cls(text=" ".join(tokens), tokens=tokens, token_ids=hypothesis.token_ids,
                   token_log_probs=hypothesis.token_log_probs, score=hypothesis.score, finished=hypothesis.finished,
                   beam_size=beam_size)


def validate(spec: TaskSpec) -> GenerateOptions:
    if set(spec.outputs) != {"log_probs"}:
        raise BundleError(f"task 'generate' outputs: expected the one role 'log_probs'. Got: "
                          f"{', '.join(sorted(spec.outputs)) or 'none'}")
    options = parse_options(GenerateOptions, spec.params, "task 'generate' params")
    if not spec.labels:
        raise BundleError("task 'generate' labels: expected the target vocabulary (id -> token). Got: none")
    largest = max(options.start_id, options.end_id, options.pad_id)
    if largest >= len(spec.labels):
        raise BundleError(f"task 'generate' params: special token id {largest} is outside the vocabulary of "
                          f"{len(spec.labels)} labels")
    return options


class GenerateDecoder(Decoder):
    """One ``decode_step`` invocation's outputs -> the log-probs vector, or a one-step greedy :class:`Generation`.

    The search itself needs the step model (:func:`beam_search`); this decoder is what the task
    layer can do with a single step's tensors, and it checks their shape against the vocabulary.
    """

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.options: GenerateOptions = spec.options

    def log_probs(self, outputs: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.float32]:
        """The ``(B, V)`` log-probs of a step, V equal to the vocabulary size."""
        array = self.tensor(outputs, "log_probs").astype(np.float32, copy=False)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != len(self.spec.labels):
            raise InputError(f"task 'generate': output {self.spec.outputs['log_probs']!r} should have shape [B, "
                             f"{len(self.spec.labels)}] (one log-prob per vocabulary entry). Got shape "
                             f"{list(array.shape)}")
        return array

    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> Generation:
        row = self.log_probs(outputs)[0]
        token = int(np.argmax(row))
        finished = token == self.options.end_id
        ids = () if finished else (token,)
        return Generation.from_hypothesis(Hypothesis(ids, (float(row[token]),), float(row[token]), finished),
                                          self.spec.labels, beam_size=1)


def decoder(spec: TaskSpec) -> GenerateDecoder:
    return GenerateDecoder(spec)
