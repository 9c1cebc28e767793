"""A generate bundle served by the pipeline: the whole search as the worker's "invoke" of one frame.

The pipeline's worker calls ``prepare``, ``infer`` and ``decode`` on the model it serves, on its own
thread. :class:`GenerateServing` gives a :class:`~edge_sdk.generator.Generator` that shape: ``prepare``
keeps the frame (and the text command, for a translator), ``infer`` runs the encoder once and the
beam search over ``decode_step`` (``Generator.generate``), ``decode`` hands back the
:class:`DescribedText`. So the decode runs in the existing inference stage, never on a thread of its
own, and the result takes the pipeline's sink path (outbox, at least once) like any other. Which
frames are worth a description is the gate's call (:mod:`edge_sdk.describe.gate`), made before
``prepare``: the others never reach the model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from edge_sdk.bundle import Bundle, read_bundle
from edge_sdk.errors import BundleError, InputError
from edge_sdk.generator import GeneratedText, Generator, generate_signature
from edge_sdk.model import FusionModel, Prediction, PreparedImage
from edge_sdk.preprocess.image import ColorOrder
from edge_sdk.tasks.generate import Generation

__all__ = ["DescribedText", "GenerateServing", "is_generate_bundle", "serving_kind"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DescribedText(Generation):
    """A :class:`Generation` with its mode, the source text (translation) and the time each half took."""

    mode: str = "caption"  # or "translate"
    source_text: str | None = None
    encode_ms: float = 0.0
    decode_ms: float = 0.0
    steps: int = 0  # decode_step invokes

    @classmethod
    def of(cls, generated: GeneratedText, mode: str, source_text: str | None) -> DescribedText:
        g = generated.generation
        return cls(text=g.text, tokens=g.tokens, token_ids=g.token_ids, token_log_probs=g.token_log_probs,
                   score=g.score, finished=g.finished, beam_size=g.beam_size, mode=mode, source_text=source_text,
                   encode_ms=generated.encode_ms, decode_ms=generated.decode_ms, steps=generated.steps)

    @property
    def mean_log_prob(self) -> float:
        probs = self.token_log_probs
        return float(sum(probs) / len(probs)) if probs else 0.0

    def to_json(self) -> dict[str, Any]:
        out = {**super().to_json(), "mode": self.mode, "encode_ms": round(self.encode_ms, 3),
               "decode_ms": round(self.decode_ms, 3), "steps": self.steps}
        if self.source_text is not None:
            out["source_text"] = self.source_text
        return out


def is_generate_bundle(bundle: Bundle) -> bool:
    """Whether ``bundle`` has a ``generate`` (decoder step) signature, so it runs under a search."""
    return any((s.task or {}).get("kind") == "generate" for s in bundle.manifest.signatures)


def serving_kind(model: FusionModel) -> str:
    """What a run set up around ``model``: ``caption`` or ``translate`` (the describe gate and its topic),
    or ``per-frame``. An update must keep it: the gate and the topic are attached once, at start."""
    return model.mode if isinstance(model, GenerateServing) else "per-frame"


class GenerateServing(FusionModel):
    """A :class:`Generator` in the place of the pipeline's :class:`FusionModel`; owned by the worker.

    It presents the ``encode`` signature (its inputs say which sources the run needs: the image, and
    the text for a translator) and the ``generate`` task of ``decode_step``. Only what the pipeline
    and the runtime use is served: ``roles``, ``prepare``/``infer``/``decode``, ``manifest``,
    ``signature``, ``task``, ``close``; ``predict`` works too. It does not call
    ``FusionModel.__init__``: the generator's two models have checked their own contracts and goldens.
    """

    def __init__(self, generator: Generator, *, beam_size: int | None = None,
                 max_length: int | None = None) -> None:
        encoder = generator.encoder
        self.generator = generator
        self.bundle, self.manifest, self.signature = encoder.bundle, encoder.manifest, encoder.signature
        self.backend = encoder.backend
        self.task = generator.step.task
        self._labels = ()
        self.beam_size = generator.options.beam_size if beam_size is None else beam_size
        self.max_length = max_length
        self._pending: tuple[np.ndarray | None, str | None, ColorOrder] | None = None
        self._last: DescribedText | None = None
        self._closed = False

    @classmethod
    def open(cls, source: str | Path | bytes | Bundle, *, num_threads: int | None = None, runtime: str | None = None,
             verify_golden: bool = True, beam_size: int | None = None,
             max_length: int | None = None) -> GenerateServing:
        bundle = source if isinstance(source, Bundle) else read_bundle(source)
        generate_signature(bundle)  # BundleError naming the signatures when there is no decoder step
        generator = Generator.from_bundle(bundle, num_threads=num_threads, runtime=runtime,
                                          verify_golden=verify_golden)
        return cls(generator, beam_size=beam_size, max_length=max_length)

    @property
    def mode(self) -> str:
        """``caption`` or ``translate``: what the bundle's ``generate`` task says it does."""
        return "translate" if self.generator.needs_text else "caption"

    def prepare(self, image: np.ndarray | None = None, text: str | None = None,
                sensor: Mapping[str, float] | None = None, color_order: ColorOrder = "BGR",
                tensors_in: Mapping[str, Any] | None = None, prepared: PreparedImage | None = None) -> dict[str, np.ndarray]:
        """Keep the inputs for :meth:`infer` (the encoder preprocesses them there, with the search; nothing
        is made ahead: ``prepared`` is never given, as the pipeline only prepares for plain models)."""
        if self.generator.needs_image and image is None:
            raise InputError("this generate bundle needs an image input. Got: none")
        if self.generator.needs_text and not (text or "").strip():
            raise InputError(f"this generate bundle translates: its {self.signature.key!r} signature takes a text "
                             f"input. Got: {'none' if text is None else 'an empty text'}")
        self._pending = (image, text if self.generator.needs_text else None, color_order)
        return {}

    def infer(self, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Encode and search; the outputs are empty: :meth:`decode` returns what the search found."""
        if self._pending is None:
            raise InputError("GenerateServing.infer: expected prepare() first. Got: no prepared inputs")
        image, text, color_order = self._pending
        self._pending = None
        generated = self.generator.generate(image=image, text=text, color_order=color_order,
                                            beam_size=self.beam_size, max_length=self.max_length)
        self._last = DescribedText.of(generated, self.mode, text)
        return {}

    def decode(self, outputs: Mapping[str, np.ndarray]) -> Prediction:
        described = self._last
        if described is None:
            raise InputError("GenerateServing.decode: expected infer() first. Got: nothing generated")
        self._last = None
        # the text is the label: publish=change then sends a new description only
        return Prediction(described.text, math.exp(described.mean_log_prob), MappingProxyType({}), {}, described)

    def verify_golden(self) -> int:
        raise BundleError("GenerateServing: the generator's two models verified their goldens when they loaded")

    def reset(self) -> None:
        """Nothing to reset: every search starts from the encoder's state."""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.generator.close()
