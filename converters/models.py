"""Build fusion models from a :class:`~converters.spec.ModelSpec`.

Inputs are named ``image`` (float32 pixels 0..255, normalised inside the graph so uint8 models take
camera bytes as they are), ``text`` (int32 token ids) and ``sensor`` (float32, already scaled);
the output is ``scores`` (softmax). Build the same spec twice to get a training copy (any batch,
RNN as a loop) and an inference copy (batch 1, RNN unrolled) that share weights: the inference
copy converts to TFLite builtin ops only, where a Keras 3 RNN loop becomes a WHILE subgraph.
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
    spec: ModelSpec, shapes: ModelShapes, batch_size: int | None = None, unroll: bool = False, name: str = "fusion"
) -> keras.Model:
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

    if spec.fusion == "attention":
        attended = NullTokenAttention(spec.fusion_dim, name="attention")([feature_map, text_vector])
        # Verification: does what was attended to match what was asked for? A product of the two
        # projections gives the head that comparison directly, which decides "absent" when a
        # distractor shares only the colour or only the shape.
        match = layers.Multiply(name="match")([
            layers.Dense(spec.fusion_dim, name="match_seen")(attended),
            layers.Dense(spec.fusion_dim, name="match_asked")(text_vector),
        ])
        parts = [attended, match, text_vector] + ([sensor_vector] if sensor_vector is not None else [])
        fused = layers.Concatenate(name="fuse")(parts)
    elif spec.fusion == "weighted" and len(vectors) > 1:
        projected = [
            layers.Dense(spec.fusion_dim, activation="relu", name=f"project_{m}")(v)
            for m, v in zip(spec.modalities, vectors)
        ]
        fused = SoftmaxWeightedSum(name="fuse")(projected)
    else:
        fused = layers.Concatenate(name="fuse")(vectors) if len(vectors) > 1 else vectors[0]

    x = layers.Dropout(spec.dropout, name="head_dropout")(fused)
    x = layers.Dense(spec.head_units, activation="relu", name="head")(x)
    scores = layers.Dense(shapes.num_classes, activation="softmax", name="scores")(x)
    return keras.Model(inputs=inputs, outputs=scores, name=name)


def inference_copy(model: keras.Model, spec: ModelSpec, shapes: ModelShapes) -> keras.Model:
    """The same weights in a batch-1 model with unrolled RNNs: what converts to builtins only."""
    copy = build_model(spec, shapes, batch_size=1, unroll=True, name=model.name + "_inference")
    copy.set_weights(model.get_weights())
    return copy


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
