"""An encoder and a one-step attention decoder: the two graphs a device runs to caption or translate.

The encoder is the fusion models' CNN (:func:`converters.models._cnn`) whose feature map, squeezed
by a 1x1 convolution, becomes the attention memory (one row per cell, so "on the left" stays in
the map); for translation an RNN over the source sentence adds one row per source token. It also
gives the decoder's initial state and the attention keys, computed once per image instead of once
per step.

The decoder step is one LSTM or GRU cell call with additive (Bahdanau) attention over the memory:
previous token, state, memory -> next-token log-probabilities and the new state. Training runs the
very same step model once per target position (teacher forcing), so what is trained is what is
exported: single-step cell math, no WHILE loop, builtin ops only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from converters.errors import SpecError
from converters.spec import ModelSpec

__all__ = ["CaptionerSpec", "build_decoder_step", "build_encoder", "memory_length", "state_names"]


@dataclass(frozen=True)
class CaptionerSpec:
    """Sizes of the encoder and the decoder; ``use_image``/``use_source`` choose the task."""

    use_image: bool = field(default=True, metadata={"help": "attend over the image (False: text-only translation)"})
    use_source: bool = field(default=False, metadata={"help": "encode a source sentence (translation)"})
    cnn_stem_filters: int = 24
    cnn_filters: tuple[int, ...] = (32, 48, 64)
    cnn_strides: tuple[int, ...] = (2, 2, 1)
    batch_norm_momentum: float = field(default=0.9, metadata={"help": "of the CNN's moving statistics: a few "
                                                                       "hundred steps must settle them"})
    memory_dim: int = field(default=64, metadata={"help": "width of each attention memory row"})
    attention_dim: int = 64
    embedding_dim: int = 32
    rnn: Literal["lstm", "gru"] = "gru"
    rnn_units: int = 192
    source_embedding_dim: int = 32
    source_units: int = 64
    dropout: float = field(default=0.1, metadata={"help": "on the decoder output, in training"})

    def __post_init__(self) -> None:
        if not (self.use_image or self.use_source):
            raise SpecError("a captioner needs an image, a source sentence or both. Got: neither")
        if len(self.cnn_filters) != len(self.cnn_strides):
            raise SpecError(f"cnn_filters and cnn_strides must have the same length. Got: {self.cnn_filters}, "
                            f"{self.cnn_strides}")
        if self.rnn not in ("lstm", "gru"):
            raise SpecError(f"rnn must be 'lstm' or 'gru'. Got: {self.rnn!r}")
        if not 0 <= self.dropout < 1:
            raise SpecError(f"dropout must be in [0, 1). Got: {self.dropout}")
        for name in ("memory_dim", "attention_dim", "embedding_dim", "rnn_units", "source_embedding_dim",
                     "source_units"):
            if getattr(self, name) < 1:
                raise SpecError(f"{name} must be 1 or more. Got: {getattr(self, name)}")

    def cnn_spec(self) -> ModelSpec:
        return ModelSpec(modalities=("image",), fusion="concat", cnn_stem_filters=self.cnn_stem_filters,
                         cnn_filters=self.cnn_filters, cnn_strides=self.cnn_strides,
                         batch_norm_momentum=self.batch_norm_momentum)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaptionerSpec:
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)

    @classmethod
    def tiny(cls, **changes: Any) -> CaptionerSpec:
        """Seconds to train on a few hundred 32x32 images: for tests."""
        sizes: dict[str, Any] = {"cnn_stem_filters": 8, "cnn_filters": (16, 24), "cnn_strides": (2, 1),
                                 "memory_dim": 24, "attention_dim": 24, "embedding_dim": 16, "rnn_units": 48,
                                 "source_embedding_dim": 16, "source_units": 24}
        return cls(**{**sizes, **changes})


def state_names(spec: CaptionerSpec) -> tuple[str, ...]:
    """The decoder state tensors: h and c for an LSTM, h for a GRU."""
    return ("h", "c") if spec.rnn == "lstm" else ("h",)


def memory_length(spec: CaptionerSpec, image_size: tuple[int, int], source_length: int) -> int:
    """Rows of the attention memory: feature-map cells plus source tokens."""
    rows = 0
    if spec.use_image:
        height, width = image_size
        for stride in (spec.cnn_spec().cnn_stem_stride, *spec.cnn_strides):
            height, width = -(-height // stride), -(-width // stride)
        rows += height * width
    return rows + (source_length if spec.use_source else 0)


def _attention_layer() -> Any:
    import keras
    from keras import layers, ops

    @keras.saving.register_keras_serializable(package="edge_sdk_captioning")
    class AdditiveAttention(layers.Layer):
        """``context = sum_l softmax_l(v . tanh(keys_l + W h)) * memory_l``; keys come precomputed."""

        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.query = layers.Dense(units, use_bias=True, name="query")
            self.score = layers.Dense(1, use_bias=False, name="score")

        def build(self, input_shape: Any) -> None:
            state_shape, keys_shape, _ = input_shape
            self.query.build(state_shape)
            self.score.build((*keys_shape[:-1], self.units))

        def call(self, inputs: Any) -> Any:
            state, keys, memory = inputs
            query = ops.expand_dims(self.query(state), 1)  # (B, 1, A) against (B, L, A)
            weights = ops.softmax(self.score(ops.tanh(keys + query)), axis=1)  # (B, L, 1)
            return ops.sum(weights * memory, axis=1)

        def compute_output_shape(self, input_shape: Any) -> Any:
            _, _, memory_shape = input_shape
            return (memory_shape[0], memory_shape[-1])

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

    return AdditiveAttention


def build_encoder(spec: CaptionerSpec, image_size: tuple[int, int], source_vocab: int = 0, source_length: int = 0,
                  batch_size: int | None = None, unroll: bool = False, name: str = "encode") -> Any:
    """Inputs ``image`` (raw 0..255 pixels) and/or ``source`` (token ids) -> a dict of ``memory``,
    ``keys`` and the initial state ``init_h`` (and ``init_c`` for an LSTM)."""
    import keras
    from keras import layers

    from converters.models import _cnn

    inputs, parts = {}, []
    if spec.use_image:
        image = keras.Input((*image_size, 3), batch_size=batch_size, name="image", dtype="float32")
        inputs["image"] = image
        x = _cnn(spec.cnn_spec(), image)
        x = layers.Conv2D(spec.memory_dim, 1, activation="relu", name="image_memory")(x)
        parts.append(layers.Reshape((-1, spec.memory_dim), name="image_rows")(x))
    if spec.use_source:
        if source_vocab < 2 or source_length < 1:
            raise SpecError(f"a translation encoder needs the source vocabulary and length. Got: {source_vocab}, "
                            f"{source_length}")
        source = keras.Input((source_length,), batch_size=batch_size, name="source", dtype="int32")
        inputs["source"] = source
        x = layers.Embedding(source_vocab, spec.source_embedding_dim, name="source_embedding")(source)
        rnn = layers.LSTM if spec.rnn == "lstm" else layers.GRU
        x = rnn(spec.source_units, return_sequences=True, unroll=unroll, name="source_rnn")(x)
        parts.append(layers.Dense(spec.memory_dim, activation="tanh", name="source_rows")(x))
    memory = parts[0] if len(parts) == 1 else layers.Concatenate(axis=1, name="memory")(parts)
    keys = layers.Dense(spec.attention_dim, use_bias=False, name="keys")(memory)
    pooled = layers.GlobalAveragePooling1D(name="pooled")(memory)
    outputs = {"memory": memory, "keys": keys}
    for state in state_names(spec):
        outputs[f"init_{state}"] = layers.Dense(spec.rnn_units, activation="tanh", name=f"init_{state}")(pooled)
    return keras.Model(inputs, outputs, name=name)


def build_decoder_step(spec: CaptionerSpec, target_vocab: int, memory_rows: int, batch_size: int | None = None,
                       name: str = "decode_step") -> Any:
    """Inputs ``token`` (B,), ``state_h`` (and ``state_c``), ``memory``, ``keys`` -> a dict of
    ``log_probs`` (B, V) and ``next_h`` (and ``next_c``)."""
    import keras
    from keras import layers

    token = keras.Input((), batch_size=batch_size, name="token", dtype="int32")
    states = {s: keras.Input((spec.rnn_units,), batch_size=batch_size, name=f"state_{s}") for s in state_names(spec)}
    memory = keras.Input((memory_rows, spec.memory_dim), batch_size=batch_size, name="memory")
    keys = keras.Input((memory_rows, spec.attention_dim), batch_size=batch_size, name="keys")
    embedded = layers.Embedding(target_vocab, spec.embedding_dim, name="target_embedding")(token)
    context = _attention_layer()(spec.attention_dim, name="attention")([states["h"], keys, memory])
    step_in = layers.Concatenate(name="step_in")([embedded, context])
    if spec.rnn == "lstm":
        out, (next_h, next_c) = layers.LSTMCell(spec.rnn_units, name="cell")(step_in, [states["h"], states["c"]])
        new_states = {"h": next_h, "c": next_c}
    else:
        out, next_states = layers.GRUCell(spec.rnn_units, name="cell")(step_in, [states["h"]])
        new_states = {"h": next_states[0] if isinstance(next_states, list | tuple) else next_states}
    x = layers.Dropout(spec.dropout, name="out_dropout")(out)
    x = layers.Concatenate(name="deep_output")([x, context, embedded])
    logits = layers.Dense(target_vocab, name="logits")(x)
    outputs = {"log_probs": layers.Activation("log_softmax", name="log_probs")(logits)}
    outputs.update({f"next_{s}": layers.Identity(name=f"next_{s}")(v) for s, v in new_states.items()})
    inputs = {"token": token, **{f"state_{s}": v for s, v in states.items()}, "memory": memory, "keys": keys}
    return keras.Model(inputs, outputs, name=name)
