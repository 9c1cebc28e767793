"""Bring your own .tflite: wrap a third-party model into a bundle by describing its inputs, then run it.

examples/models/colour_classifier.tflite stands in for a model from elsewhere (how it was made:
examples/models/make_colour_classifier.py). The same description as a file, for the command line:
examples/models/colour_classifier.wrap.yaml with `edge-sdk wrap ... --spec`.

    python examples/bring_your_own_tflite.py --out work/colour_classifier.bundle.tflite
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edge_sdk import FusionModel
from edge_sdk.bundle import ModelInfo
from edge_sdk.bundle.wrap import InputDescription, OutputDescription, wrap_tflite
from edge_sdk.preprocess import ImageSpec

MODEL = Path(__file__).parent / "models" / "colour_classifier.tflite"


def scene(rgb: tuple[int, int, int], size_px: int = 120) -> np.ndarray:
    """A grey bench with one coloured square on it, RGB."""
    image = np.full((size_px, size_px, 3), 128, np.uint8)
    image[40:70, 50:80] = rgb
    return image


def main(argv: list[str] | None = None) -> dict[str, str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("work/colour_classifier.bundle.tflite"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    # The model's contract, which its flatbuffer does not carry: what the input means, what the scores are.
    manifest = wrap_tflite(
        MODEL, args.out,
        inputs=[InputDescription(role="image", name="pixels", preprocess=ImageSpec(
            width=32, height=32, color_order="RGB", mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5)))],
        outputs=[OutputDescription(labels=("red", "green", "blue"), name="colour_scores")],
        model_info=ModelInfo("colour_classifier", "1", "dominant saturated colour"),
    )
    print(f"wrapped {MODEL.name} -> {args.out}: inputs {[i.name for i in manifest.inputs]}")

    answers = {}
    with FusionModel.from_bundle(args.out) as model:
        for name, rgb in {"red": (215, 40, 35), "green": (40, 170, 60), "blue": (45, 75, 215)}.items():
            prediction = model.predict(image=scene(rgb), color_order="RGB")
            answers[name] = prediction.label or ""
            print(f"a {name} square: {prediction.label} ({prediction.confidence:.2f})")
    return answers


if __name__ == "__main__":
    main()
