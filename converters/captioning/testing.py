"""Tiny captioner and translator bundles for tests: seek scenes, 32x32, trained in seconds (needs TensorFlow).

    bundle = tiny_generate_bundle(tmp_path)                      # tmp_path/captioner_int8.tflite
    bundle = tiny_generate_bundle(tmp_path, task="translate")    # tmp_path/translator_int8.tflite

The bundles are real (trained, converted, golden vectors for both signatures, loaded back through
edge_sdk) but small and briefly trained: good for contracts and plumbing, not for caption quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from converters.captioning.data import write_seek_captions, write_seek_translations
from converters.captioning.model import CaptionerSpec
from converters.captioning.train import CaptionTrainConfig
from converters.captioning.workflow import export_generation, train_captioning, train_translation

__all__ = ["TINY_IMAGE_SIZE", "TINY_SCENES", "tiny_generate_bundle"]

TINY_SCENES = 400
TINY_IMAGE_SIZE = 32


def tiny_generate_bundle(out_dir: str | Path, task: Literal["caption", "translate"] = "caption", mode: str = "int8",
                         scenes: int = TINY_SCENES, epochs: int = 6, rnn: Literal["lstm", "gru"] = "lstm",
                         seed: int = 0) -> Path:
    """Write seek data, train briefly and export float32 and int8; returns the ``mode`` bundle."""
    if mode not in ("int8", "float32"):
        raise ValueError(f"mode must be 'int8' or 'float32'. Got: {mode!r}")
    out = Path(out_dir)
    config = CaptionTrainConfig(epochs=epochs, batch_size=64, seed=seed)
    if task == "caption":
        manifest = write_seek_captions(out / "data", scenes, seed=seed, image_size=TINY_IMAGE_SIZE)
        run = train_captioning(manifest, spec=CaptionerSpec.tiny(rnn=rnn), config=config, progress=False)
    else:
        manifest = write_seek_translations(out / "data", scenes, seed=seed, image_size=TINY_IMAGE_SIZE)
        run = train_translation(manifest, spec=CaptionerSpec.tiny(rnn=rnn, use_source=True), config=config,
                                progress=False)
    exported = export_generation(run, out, evaluate_rows=20, save_keras=False)
    return exported.bundles[mode]
