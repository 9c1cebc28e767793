"""Captioning and image-conditioned translation on the device: an encoder and a search over its decoder step.

A generate bundle has two signatures: ``encode`` (image, and the source sentence for translation ->
the attention memory and the decoder's initial state) and ``decode_step`` (previous token, state,
memory -> next-token log-probabilities and the new state), wired by the ``generate`` task's params
(:class:`edge_sdk.tasks.generate.GenerateOptions`). :class:`Generator` loads both (each checks its
own golden vectors), runs the encoder once per input and then
:func:`edge_sdk.tasks.generate.beam_search` over the step, the same search code the host runs over
Keras. The step signature has batch 1, so each live beam is one invoke on the one step
interpreter; its inputs are quantized into buffers made once per search, the memory once per input.

    with Generator.from_bundle("captioner_int8.tflite") as captioner:
        text = captioner.generate(image=frame).generation.text    # "a small red circle on the left"
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from edge_sdk.backends.tflite import TensorBinding
from edge_sdk.bundle import Bundle, read_bundle
from edge_sdk.errors import BundleError, InputError
from edge_sdk.model import FusionModel
from edge_sdk.preprocess.image import ColorOrder
from edge_sdk.tasks.generate import GenerateOptions, Generation, Hypothesis, beam_search, greedy_search

__all__ = ["GeneratedText", "Generator", "generate_signature"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratedText:
    """A generation and where its time went."""

    generation: Generation
    encode_ms: float
    decode_ms: float
    steps: int  # decode_step invokes

    def to_json(self) -> dict[str, Any]:
        return {**self.generation.to_json(), "encode_ms": round(self.encode_ms, 3),
                "decode_ms": round(self.decode_ms, 3), "steps": self.steps}


def generate_signature(bundle: Bundle) -> str:
    """The key of the bundle's one ``generate`` (decoder step) signature; BundleError when there is none."""
    keys = [s.key for s in bundle.manifest.signatures if (s.task or {}).get("kind") == "generate"]
    if len(keys) != 1:
        raise BundleError(f"expected a bundle with one signature whose task is 'generate' (a decoder step). Got: "
                          f"{len(keys)} among {[s.key for s in bundle.manifest.signatures]}")
    assert keys[0] is not None
    return keys[0]


class Generator:
    """Runs a generate bundle: ``generate(image, text)`` -> :class:`GeneratedText`. Owned by one thread."""

    def __init__(self, encoder: FusionModel, step: FusionModel) -> None:
        self.encoder, self.step = encoder, step
        self.options: GenerateOptions = step.task.options
        self.labels: tuple[str, ...] = step.task.labels
        self._runner = step.backend
        self._check_wiring()
        self._token = np.zeros(self._runner.inputs[self.options.token_input].shape,
                               self._runner.inputs[self.options.token_input].dtype)

    @classmethod
    def from_bundle(cls, source: str | Path | bytes | Bundle, num_threads: int | None = None,
                    runtime: str | None = None, verify_golden: bool = True) -> Generator:
        bundle = source if isinstance(source, Bundle) else read_bundle(source)
        step_key = generate_signature(bundle)
        step = FusionModel.from_bundle(bundle, num_threads, runtime, verify_golden, signature=step_key)
        try:
            encode_key = step.task.options.encode_signature
            encoder = FusionModel.from_bundle(bundle, num_threads, runtime, verify_golden, signature=encode_key)
        except BaseException:
            step.close()
            raise
        return cls(encoder, step)

    @property
    def mode(self) -> str:
        return self.options.mode

    @property
    def needs_text(self) -> bool:
        return self.encoder.signature.input("text") is not None

    @property
    def needs_image(self) -> bool:
        return self.encoder.signature.input("image") is not None

    def generate(self, image: np.ndarray | None = None, text: str | None = None, color_order: ColorOrder = "BGR",
                 beam_size: int | None = None, length_alpha: float | None = None,
                 max_length: int | None = None) -> GeneratedText:
        """Caption ``image`` (or translate ``text`` given ``image``); beam 1 is greedy search."""
        options = self.options
        beam = options.beam_size if beam_size is None else beam_size
        if beam < 1:
            raise InputError(f"beam_size: expected 1 or more. Got: {beam}")
        started = time.perf_counter()
        encoded = self.encoder.infer(self.encoder.prepare(image=image if self.needs_image else None,
                                                          text=text if self.needs_text else None,
                                                          color_order=color_order))
        memory = {name: self._quantize(name, encoded[output][None]) for output, name in options.memory.items()}
        initial = {name: np.asarray(encoded[output], np.float32)[None] for output, name in options.initial_state.items()}
        encoded_at = time.perf_counter()
        step, counter = self._step_fn(memory)
        longest = options.max_length if max_length is None else max_length
        if beam == 1:
            best: Hypothesis = greedy_search(step, initial, start_id=options.start_id, end_id=options.end_id,
                                             max_length=longest)
        else:
            best = beam_search(step, initial, beam_size=beam, start_id=options.start_id, end_id=options.end_id,
                               max_length=longest,
                               length_alpha=options.length_alpha if length_alpha is None else length_alpha)[0]
        done = time.perf_counter()
        return GeneratedText(Generation.from_hypothesis(best, self.labels, beam), (encoded_at - started) * 1e3,
                             (done - encoded_at) * 1e3, counter[0])

    def _step_fn(self, memory: Mapping[str, np.ndarray]) -> tuple[Any, list[int]]:
        runner, options, token = self._runner, self.options, self._token
        feed: dict[str, np.ndarray] = {options.token_input: token, **memory}
        log_probs_output = self.step.task.outputs["log_probs"]
        counter = [0]
        buffers: dict[int, tuple[npt.NDArray[np.float32], dict[str, npt.NDArray[np.float32]]]] = {}

        def step(tokens: npt.NDArray[np.int32], state: Mapping[str, np.ndarray]) -> tuple[Any, dict[str, Any]]:
            rows = len(tokens)
            if rows not in buffers:  # one set per beam width: the search's batch never changes within it
                buffers[rows] = (np.empty((rows, len(self.labels)), np.float32),
                                 {name: np.empty((rows, *self._runner.outputs[out].shape[1:]), np.float32)
                                  for name, out in options.state.items()})
            log_probs, new_state = buffers[rows]
            for row in range(rows):
                token[0] = tokens[row]
                for name in options.state:
                    feed[name] = self._quantize(name, state[name][row:row + 1])
                out = runner.infer(feed)
                log_probs[row] = _dequantize(runner.outputs[log_probs_output], out[log_probs_output])[0]
                for name, output in options.state.items():
                    new_state[name][row] = _dequantize(runner.outputs[output], out[output])[0]
            counter[0] += rows
            # the search keeps what it is given: hand it copies, the buffers are written again next step
            return log_probs.copy(), {name: array.copy() for name, array in new_state.items()}

        return step, counter

    def _quantize(self, name: str, value: np.ndarray) -> np.ndarray:
        binding = self._runner.inputs[name]
        if binding.quantized:
            info = np.iinfo(binding.dtype)
            q = np.round(np.asarray(value, np.float32) / binding.scale) + binding.zero_point
            return np.clip(q, info.min, info.max).astype(binding.dtype)
        return np.ascontiguousarray(value, dtype=binding.dtype)

    def _check_wiring(self) -> None:
        """Every name the task's params use must exist on the signature it names, shapes agreeing."""
        options, step_inputs, step_outputs = self.options, self._runner.inputs, self._runner.outputs
        encode_outputs = self.encoder.backend.outputs
        where = f"task 'generate' of signature {self.step.signature.key!r}"
        wanted = [(options.token_input, step_inputs, "decode_step input"),
                  (self.step.task.outputs["log_probs"], step_outputs, "decode_step output")]
        wanted += [(n, step_inputs, "decode_step input") for n in options.state]
        wanted += [(n, step_outputs, "decode_step output") for n in options.state.values()]
        wanted += [(n, encode_outputs, "encode output") for n in (*options.initial_state, *options.memory)]
        wanted += [(n, step_inputs, "decode_step input") for n in options.memory.values()]
        for name, have, what in wanted:
            if name not in have:
                raise BundleError(f"{where}: expected a {what} {name!r}. Got: {sorted(have)}")
        pairs = [(encode_outputs[e], step_inputs[d]) for e, d in (*options.initial_state.items(),
                                                                  *options.memory.items())]
        pairs += [(step_outputs[o], step_inputs[i]) for i, o in options.state.items()]
        for source, target in pairs:
            if tuple(source.shape[1:]) != tuple(target.shape[1:]):
                raise BundleError(f"{where}: {source.name!r} {list(source.shape)} cannot feed {target.name!r} "
                                  f"{list(target.shape)}")
        vocabulary = step_outputs[self.step.task.outputs["log_probs"]].shape[-1]
        if vocabulary != len(self.labels):
            raise BundleError(f"{where}: log-probs over {vocabulary} tokens but {len(self.labels)} labels")

    def close(self) -> None:
        self.step.close()
        self.encoder.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dequantize(binding: TensorBinding, value: np.ndarray) -> np.ndarray:
    if binding.quantized:
        return (value.astype(np.float32) - binding.zero_point) * np.float32(binding.scale)
    return value

