"""Build fusion models from a :class:`~converters.spec.ModelSpec`.

Inputs are named ``image`` (float32 pixels 0..255, normalised inside the graph so uint8 models take
camera bytes as they are), ``text`` (int32 token ids) and ``sensor`` (float32, already scaled);
the output is ``scores`` (softmax). Build the same spec twice to get a training copy (any batch,
RNN as a loop) and an inference copy (batch 1, RNN unrolled) that share weights: the inference
copy converts to TFLite builtin ops only, where a Keras 3 RNN loop becomes a WHILE subgraph.

The inference copy also splits each Dense over a concatenation into one Dense per part, summed
(the same function: a kernel's rows are the parts'). Full int8 gives a tensor one scale, so a
concatenation of the attended vector (tens), the null token's weight (0..1) and the LSTM's output
(-1..1) quantized them all at the widest part's step, and the head saw the narrow parts in a few
levels: the seek model's int8 answered confident "absent" scenes with a position (issue 16).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from converters.layers import NullTokenAttention, SoftmaxWeightedSum
from converters.spec import ModelSpec, check_feature_map

__all__ = ["ModelShapes", "build_model", "inference_copy"]


@dataclass(frozen=True)
class ModelShapes:
    """Sizes that come from the data rather than the spec."""

    image_size: tuple[int, int]  # (height, width)
    vocab_size: int
    max_length: int
    sensor_channels: int
    num_classes: int


def build_model(
    spec: ModelSpec, shapes: ModelShapes, batch_size: int | None = None, unroll: bool = False, name: str = "fusion",
    split_concat: bool = False,
) -> keras.Model:
    """The fusion model; ``split_concat`` (inference copies) builds each Dense over a concatenation
    as a sum of one Dense per part, named ``<name>_part<i>`` (see the module docstring)."""
    inputs: dict[str, keras.KerasTensor] = {}
    vectors: list[keras.KerasTensor] = []
    feature_map = text_vector = sensor_vector = None
    if "image" in spec.modalities:
        check_feature_map(spec, shapes.image_size)
        height, width = shapes.image_size
        inputs["image"] = keras.Input((height, width, 3), batch_size=batch_size, name="image", dtype="float32")
        feature_map = _cnn(spec, inputs["image"])
        vectors.append(layers.GlobalAveragePooling2D(name="image_pool")(feature_map))
    if "text" in spec.modalities:
        inputs["text"] = keras.Input((shapes.max_length,), batch_size=batch_size, name="text", dtype="int32")
        embedded = layers.Embedding(shapes.vocab_size, spec.embedding_dim, name="embedding")(inputs["text"])
        rnn = layers.LSTM if spec.rnn == "lstm" else layers.GRU
        text_vector = rnn(spec.rnn_units, unroll=unroll, name=spec.rnn)(embedded)
        vectors.append(text_vector)
    if "sensor" in spec.modalities:
        inputs["sensor"] = keras.Input((shapes.sensor_channels,), batch_size=batch_size, name="sensor", dtype="float32")
        sensor_vector = layers.Dense(spec.sensor_units, activation="relu", name="sensor_dense")(inputs["sensor"])
        vectors.append(sensor_vector)

    parts: list[keras.KerasTensor] = []  # what the head's Dense reads, concatenated in training
    if spec.fusion == "attention":
        attention = NullTokenAttention(spec.fusion_dim, split_output=split_concat, name="attention")
        attended = attention([feature_map, text_vector])
        attended_parts = list(attended) if split_concat else [attended]
        # Verification: does what was attended to match what was asked for? A product of the two
        # projections gives the head that comparison directly, which decides "absent" when a
        # distractor shares only the colour or only the shape.
        match = layers.Multiply(name="match")([
            _dense(attended_parts, spec.fusion_dim, "match_seen"),
            layers.Dense(spec.fusion_dim, name="match_asked")(text_vector),
        ])
        parts = [*attended_parts, match, text_vector] + ([sensor_vector] if sensor_vector is not None else [])
        fused = None if split_concat else layers.Concatenate(name="fuse")(parts)
    elif spec.fusion == "weighted" and len(vectors) > 1:
        projected = [
            layers.Dense(spec.fusion_dim, activation="relu", name=f"project_{m}")(v)
            for m, v in zip(spec.modalities, vectors)
        ]
        fused = SoftmaxWeightedSum(name="fuse")(projected)
    elif len(vectors) > 1:
        parts = vectors
        fused = None if split_concat else layers.Concatenate(name="fuse")(vectors)
    else:
        fused = vectors[0]

    if fused is None:  # split: no dropout, which only acts in training
        x = _dense(parts, spec.head_units, "head", activation="relu")
    else:
        x = layers.Dropout(spec.dropout, name="head_dropout")(fused)
        x = layers.Dense(spec.head_units, activation="relu", name="head")(x)
    scores = layers.Dense(shapes.num_classes, activation="softmax", name="scores")(x)
    return keras.Model(inputs=inputs, outputs=scores, name=name)


def inference_copy(model: keras.Model, spec: ModelSpec, shapes: ModelShapes, split_concat: bool = True) -> keras.Model:
    """The same weights in a batch-1 model with unrolled RNNs: what converts to builtins only.

    With ``split_concat`` (the default) each Dense over a concatenation becomes one Dense per part
    with that part's rows of the kernel, the bias on the first (see the module docstring)."""
    copy = build_model(spec, shapes, batch_size=1, unroll=True, name=model.name + "_inference",
                       split_concat=split_concat)
    if not split_concat:
        copy.set_weights(model.get_weights())
        return copy
    source = {layer.name: layer for layer in model.layers}
    split: dict[str, dict[int, keras.layers.Layer]] = {}
    for layer in copy.layers:
        if not layer.weights:
            continue
        if layer.name in source:
            layer.set_weights(source[layer.name].get_weights())
            continue
        base, _, index = layer.name.rpartition("_part")
        if base not in source or not index.isdigit():
            raise ValueError(f"inference copy: no trained layer for {layer.name!r}. Expected one of {sorted(source)}")
        split.setdefault(base, {})[int(index)] = layer
    for base, pieces in split.items():
        kernel, bias = source[base].get_weights()
        start = 0
        for index in sorted(pieces):
            rows = pieces[index].get_weights()[0].shape[0]
            pieces[index].set_weights([kernel[start : start + rows]] + ([bias] if index == 0 else []))
            start += rows
        if start != kernel.shape[0]:
            raise ValueError(f"inference copy: the parts of {base!r} take {start} kernel rows of {kernel.shape[0]}")
    return copy


def _dense(parts: list[keras.KerasTensor], units: int, name: str, activation: str | None = None) -> keras.KerasTensor:
    """Dense(units) over the parts' concatenation: one layer for one part, else one per part, summed."""
    if len(parts) == 1:
        return layers.Dense(units, activation=activation, name=name)(parts[0])
    outs = [layers.Dense(units, use_bias=index == 0, name=f"{name}_part{index}")(part) for index, part in enumerate(parts)]
    total = layers.Add(name=f"{name}_sum")(outs)
    return layers.Activation(activation, name=f"{name}_{activation}")(total) if activation else total


def _cnn(spec: ModelSpec, image: keras.KerasTensor) -> keras.KerasTensor:
    # A cheap stem then a few blocks: 64x64 becomes an 8x8 map of tokens.
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(image)
    x = layers.Conv2D(spec.cnn_stem_filters, spec.cnn_stem_kernel, strides=spec.cnn_stem_stride, padding="same",
                      activation="relu", name="stem")(x)
    for index, (filters, stride) in enumerate(zip(spec.cnn_filters, spec.cnn_strides)):
        conv = layers.SeparableConv2D if spec.cnn_block == "separable" else layers.Conv2D
        x = conv(filters, 3, strides=stride, padding="same", use_bias=False, name=f"block{index}_conv")(x)
        x = layers.BatchNormalization(momentum=spec.batch_norm_momentum, name=f"block{index}_bn")(x)
        x = layers.ReLU(name=f"block{index}_relu")(x)
    return x
