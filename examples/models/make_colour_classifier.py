"""How examples/models/colour_classifier.tflite was made (once, with TensorFlow; the examples do not need it).

A stand-in for a model you got from elsewhere: a float32 TFLite model with a ``serving_default``
signature, input ``pixels`` (1, 32, 32, 3) RGB scaled to [-1, 1], output ``colour_scores`` (1, 3)
softmax over red, green, blue. Its weights are set by hand, not trained: a 1x1 convolution scores each
pixel's "redness" (R minus the mean of G and B), and so on, and a global max pool keeps the most
coloured pixel, so a small coloured object on a grey background decides.

    .venv/bin/python examples/models/make_colour_classifier.py examples/models/colour_classifier.tflite
"""

from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf

GAIN = 6.0  # makes the softmax confident for saturated colours


def main(out: str) -> None:
    kernel = GAIN * np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]], np.float32).T  # (in, out)

    class ColourClassifier(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((1, 32, 32, 3), tf.float32, name="pixels")])
        def serve(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
            per_pixel = tf.nn.conv2d(pixels, kernel.reshape(1, 1, 3, 3), strides=1, padding="VALID")
            return {"colour_scores": tf.nn.softmax(tf.reduce_max(per_pixel, axis=(1, 2)))}

    module = ColourClassifier()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    flatbuffer = converter.convert()
    with open(out, "wb") as handle:
        handle.write(flatbuffer)
    print(f"wrote {out}: {len(flatbuffer)} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
