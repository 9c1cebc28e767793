"""The two towers of a dual encoder: a CNN for images and an RNN for texts, into one unit sphere.

The image tower is the fusion models' CNN (:func:`converters.models._cnn`, same blocks, same
in-graph normalisation of raw 0..255 pixels); the text tower is the same embedding + LSTM/GRU as
their text branch. Each ends in a small MLP projection to ``dim`` and an L2 normalisation, so a
dot product is a cosine. The image tower keeps *where* things are: the feature map is squeezed by
a 1x1 convolution and flattened, not averaged away, because a description says "on the left".

As for the classifier, build a tower twice to get a training copy and an inference copy (batch 1,
RNN unrolled) with the same weights: the unrolled copy converts to TFLite builtin ops only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from converters.errors import SpecError
from converters.spec import ModelSpec

__all__ = ["DualEncoderSpec", "build_image_tower", "build_text_tower", "inference_towers"]


@dataclass(frozen=True)
class DualEncoderSpec:
    """Sizes of both towers and of the shared space."""

    dim: int = field(default=128, metadata={"help": "embedding dimensions (64 to 256)"})
    cnn_stem_filters: int = 24
    cnn_filters: tuple[int, ...] = (32, 48, 64)
    cnn_strides: tuple[int, ...] = (2, 2, 1)
    squeeze_channels: int = field(default=16, metadata={"help": "1x1 conv before the flattened feature map"})
    image_hidden: int = 256
    embedding_dim: int = 32
    rnn: Literal["lstm", "gru"] = "lstm"
    rnn_units: int = 128
    text_hidden: int = 256
    dropout: float = field(default=0.1, metadata={"help": "before each tower's hidden layer, in training"})
    initial_temperature: float = 0.07

    def __post_init__(self) -> None:
        if not 8 <= self.dim <= 1024:
            raise SpecError(f"dim must be in [8, 1024]. Got: {self.dim}")
        if len(self.cnn_filters) != len(self.cnn_strides):
            raise SpecError(f"cnn_filters and cnn_strides must have the same length. Got: {self.cnn_filters}, "
                            f"{self.cnn_strides}")
        if self.rnn not in ("lstm", "gru"):
            raise SpecError(f"rnn must be 'lstm' or 'gru'. Got: {self.rnn!r}")
        if not 0 <= self.dropout < 1:
            raise SpecError(f"dropout must be in [0, 1). Got: {self.dropout}")
        if not 0 < self.initial_temperature < 1:
            raise SpecError(f"initial_temperature must be in (0, 1). Got: {self.initial_temperature}")

    def cnn_spec(self) -> ModelSpec:
        """The fusion models' spec type, for their CNN builder."""
        return ModelSpec(modalities=("image",), fusion="concat", cnn_stem_filters=self.cnn_stem_filters,
                         cnn_filters=self.cnn_filters, cnn_strides=self.cnn_strides)

    @classmethod
    def tiny(cls, dim: int = 64) -> DualEncoderSpec:
        """Seconds to train on a few hundred 32x32 images: for tests."""
        return cls(dim=dim, cnn_stem_filters=8, cnn_filters=(16, 24), cnn_strides=(2, 2), squeeze_channels=8,
                   image_hidden=64, embedding_dim=16, rnn_units=32, text_hidden=64)


def build_image_tower(spec: DualEncoderSpec, image_size: tuple[int, int], batch_size: int | None = None,
                      name: str = "image_tower") -> Any:
    """(batch, H, W, 3) float32 raw pixels -> (batch, dim) unit vectors; ``image_size`` is (height, width)."""
    import keras
    from keras import layers

    from converters.models import _cnn

    image = keras.Input((*image_size, 3), batch_size=batch_size, name="image", dtype="float32")
    x = _cnn(spec.cnn_spec(), image)
    x = layers.Conv2D(spec.squeeze_channels, 1, activation="relu", name="squeeze")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(spec.dropout, name="image_dropout")(x)
    x = layers.Dense(spec.image_hidden, activation="relu", name="image_hidden")(x)
    x = layers.Dense(spec.dim, name="image_projection")(x)
    embedding = layers.UnitNormalization(axis=-1, name="image_embedding")(x)
    return keras.Model(image, embedding, name=name)


def build_text_tower(spec: DualEncoderSpec, vocab_size: int, max_length: int, batch_size: int | None = None,
                     unroll: bool = False, name: str = "text_tower") -> Any:
    """(batch, max_length) int32 token ids -> (batch, dim) unit vectors."""
    import keras
    from keras import layers

    text = keras.Input((max_length,), batch_size=batch_size, name="text", dtype="int32")
    x = layers.Embedding(vocab_size, spec.embedding_dim, name="embedding")(text)
    rnn = layers.LSTM if spec.rnn == "lstm" else layers.GRU
    x = rnn(spec.rnn_units, unroll=unroll, name=spec.rnn)(x)
    x = layers.Dropout(spec.dropout, name="text_dropout")(x)
    x = layers.Dense(spec.text_hidden, activation="relu", name="text_hidden")(x)
    x = layers.Dense(spec.dim, name="text_projection")(x)
    embedding = layers.UnitNormalization(axis=-1, name="text_embedding")(x)
    return keras.Model(text, embedding, name=name)


def inference_towers(image_tower: Any, text_tower: Any, spec: DualEncoderSpec, image_size: tuple[int, int],
                     vocab_size: int, max_length: int) -> tuple[Any, Any]:
    """Batch-1 copies with the RNN unrolled and the same weights: what converts to builtins only."""
    image = build_image_tower(spec, image_size, batch_size=1, name="embed_image")
    image.set_weights(image_tower.get_weights())
    text = build_text_tower(spec, vocab_size, max_length, batch_size=1, unroll=True, name="embed_text")
    text.set_weights(text_tower.get_weights())
    return image, text
