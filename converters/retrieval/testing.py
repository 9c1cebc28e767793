"""A tiny dual-encoder bundle for tests: seek captions, 32x32, trained in seconds (needs TensorFlow).

    bundle = tiny_dual_encoder_bundle(tmp_path)        # tmp_path/dual_encoder_int8.tflite

The bundle is real (trained, converted, golden vectors, loaded back through edge_sdk) but small and
briefly trained: good for contracts and plumbing, not for retrieval quality.
"""

from __future__ import annotations

from pathlib import Path

from converters.retrieval.model import DualEncoderSpec
from converters.retrieval.train import RetrievalTrainConfig
from converters.retrieval.workflow import export_dual_encoder, train_dual_encoder

__all__ = ["TINY_IMAGE_SIZE", "TINY_SCENES", "tiny_dual_encoder_bundle"]

TINY_SCENES = 300
TINY_IMAGE_SIZE = 32


def tiny_dual_encoder_bundle(out_dir: str | Path, mode: str = "int8", scenes: int = TINY_SCENES, epochs: int = 2,
                             dim: int = 64, seed: int = 0) -> Path:
    """Write seek captions, train the tiny dual encoder and export it; returns the ``mode`` bundle
    (``int8`` or ``float32``; both are written) in ``out_dir``."""
    from edge_sdk.demo.seek.dataset import write_caption_dataset

    if mode not in ("int8", "float32"):
        raise ValueError(f"mode must be 'int8' or 'float32'. Got: {mode!r}")
    out = Path(out_dir)
    manifest = write_caption_dataset(out / "data", scenes, seed=seed, image_size=TINY_IMAGE_SIZE)
    run = train_dual_encoder(manifest, "image", "caption", spec=DualEncoderSpec.tiny(dim),
                             config=RetrievalTrainConfig(epochs=epochs, batch_size=64, seed=seed), progress=False)
    exported = export_dual_encoder(run, out, int8=True, save_keras=False)
    return exported.bundles[mode]
