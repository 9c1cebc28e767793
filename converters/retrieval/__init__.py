"""Cross-modal retrieval on the host: train a dual encoder (image CNN, text RNN, one embedding space)
and export it as one bundle with the signatures ``embed_image`` and ``embed_text``.

    from converters.retrieval import train_dual_encoder, export_dual_encoder
    run = train_dual_encoder("captions.csv", image_column="image", text_column="caption")
    exported = export_dual_encoder(run, "out/")      # exported.bundles["int8"], exported.parity["int8"]

Modules: :mod:`~converters.retrieval.data` (pairs from a manifest), :mod:`~converters.retrieval.model`
(the towers), :mod:`~converters.retrieval.train` (InfoNCE), :mod:`~converters.retrieval.export`
(conversion, goldens, parity), :mod:`~converters.retrieval.metrics` (recall, precision, cosine),
:mod:`~converters.retrieval.testing` (a tiny bundle for tests).
"""

from converters.retrieval.data import PairData, Pairs, load_pairs
from converters.retrieval.export import SIGNATURES, ExportedDualEncoder
from converters.retrieval.model import DualEncoderSpec
from converters.retrieval.train import RetrievalTrainConfig, TrainedDualEncoder
from converters.retrieval.workflow import DualEncoderRun, export_dual_encoder, train_dual_encoder

__all__ = [
    "SIGNATURES",
    "DualEncoderRun",
    "DualEncoderSpec",
    "ExportedDualEncoder",
    "PairData",
    "Pairs",
    "RetrievalTrainConfig",
    "TrainedDualEncoder",
    "export_dual_encoder",
    "load_pairs",
    "train_dual_encoder",
]
