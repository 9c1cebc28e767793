"""Custom Keras layers of the fusion models. Each converts to TFLite builtin ops only."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import layers, ops

__all__ = ["NullTokenAttention", "SoftmaxWeightedSum"]


@keras.saving.register_keras_serializable(package="edge_sdk")
class NullTokenAttention(layers.Layer):
    """A text query attends over the CNN's spatial tokens plus a learned "null" token.

    Keys carry image content only, so the query matches *what* is there; values add a learned 2D
    position embedding, so the attended vector says *where* it is. The null token gives the
    attention somewhere to go when the named object is absent. Output: (batch, dim + 1), the
    attended vector and the null token's weight; with ``split_output`` the two as separate tensors
    (batch, dim) and (batch, 1), so that int8 conversion gives the weight (0..1) a scale of its own
    instead of the attended vector's much wider one.
    """

    def __init__(self, dim: int, split_output: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim = dim
        self.split_output = split_output
        # A hidden layer lets a key express a conjunction (red AND circle), not just a sum of cues.
        self.key_hidden = layers.Dense(dim, activation="relu", name="key_hidden")
        self.key = layers.Dense(dim, name="key")
        self.value = layers.Dense(dim, name="value")
        self.query = layers.Dense(dim, name="query")

    def build(self, input_shape: Any) -> None:
        feature_shape, query_shape = input_shape
        _, height, width, channels = feature_shape
        self.grid = (int(height), int(width))
        self.key_hidden.build((None, height * width, channels))
        self.key.build((None, height * width, self.dim))
        self.value.build((None, height * width, channels))
        self.query.build(query_shape)
        init = keras.initializers.RandomNormal(stddev=0.1)
        self.row_embedding = self.add_weight(shape=(height, 1, self.dim), initializer=init, name="row_embedding")
        self.col_embedding = self.add_weight(shape=(1, width, self.dim), initializer=init, name="col_embedding")
        self.null_key = self.add_weight(shape=(1, 1, self.dim), initializer=init, name="null_key")
        self.null_value = self.add_weight(shape=(1, 1, self.dim), initializer=init, name="null_value")
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        features, query = inputs
        height, width = self.grid
        tokens = ops.reshape(features, (-1, height * width, features.shape[-1]))
        position = ops.reshape(self.row_embedding + self.col_embedding, (1, height * width, self.dim))
        keys = self.key(self.key_hidden(tokens))
        values = self.value(tokens) + position
        q = ops.expand_dims(self.query(query), 1)  # (batch, 1, dim)
        scale = 1.0 / math.sqrt(self.dim)
        image_scores = ops.matmul(q, ops.transpose(keys, (0, 2, 1))) * scale  # (batch, 1, tokens)
        null_scores = ops.sum(q * self.null_key, axis=-1, keepdims=True) * scale  # (batch, 1, 1)
        weights = ops.softmax(ops.concatenate([image_scores, null_scores], axis=-1), axis=-1)
        null_weight = weights[:, :, height * width :]
        attended = ops.matmul(weights[:, :, : height * width], values) + null_weight * self.null_value
        parts = [ops.reshape(attended, (-1, self.dim)), ops.reshape(null_weight, (-1, 1))]
        return parts if self.split_output else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch = input_shape[0][0]
        return [(batch, self.dim), (batch, 1)] if self.split_output else (batch, self.dim + 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dim": self.dim, "split_output": self.split_output}


@keras.saving.register_keras_serializable(package="edge_sdk")
class SoftmaxWeightedSum(layers.Layer):
    """Sum of same-width modality vectors with learned, softmax-normalised weights."""

    def build(self, input_shape: Any) -> None:
        self.logits = self.add_weight(shape=(len(input_shape),), initializer="zeros", name="logits")
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        weights = ops.softmax(self.logits)
        total = inputs[0] * weights[0]
        for index in range(1, len(inputs)):
            total = total + inputs[index] * weights[index]
        return total

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]
