"""converters: the host toolchain, from a data manifest to a verified, quantized bundle.

    from converters import prepare_dataset, ModelSpec, TrainConfig, train, convert_modes, build_bundle

Names load on first use (PEP 562), so ``import converters`` stays cheap and TensorFlow is imported
only by what needs it: the device CLI registers the host commands without paying for Keras.
"""

from __future__ import annotations

from edge_sdk._lazy import lazy_exports

_EXPORTS = {
    # data
    "ColumnMap": "converters.manifest",
    "CleaningPolicy": "converters.manifest",
    "CleaningReport": "converters.manifest",
    "load_manifest": "converters.manifest",
    "Split": "converters.split",
    "split_rows": "converters.split",
    "Dataset": "converters.dataset",
    "Tensors": "converters.dataset",
    "RawSample": "converters.dataset",
    "fit_preprocessing": "converters.dataset",
    "make_tensors": "converters.dataset",
    "prepare_dataset": "converters.dataset",
    "raw_samples": "converters.dataset",
    "Preprocessing": "converters.preprocessing",
    # models and training
    "ModelSpec": "converters.spec",
    "ModelShapes": "converters.models",
    "build_model": "converters.models",
    "inference_copy": "converters.models",
    "TrainConfig": "converters.train",
    "TrainedModel": "converters.train",
    "train": "converters.train",
    # conversion, parity, bundles
    "ConversionResult": "converters.convert",
    "convert": "converters.convert",
    "convert_modes": "converters.convert",
    "ParityReport": "converters.validate",
    "validate": "converters.validate",
    "format_table": "converters.report",
    "write_html_report": "converters.report",
    "GoldenSample": "converters.bundle_builder",
    "build_bundle": "converters.bundle_builder",
    # errors
    "ConverterError": "converters.errors",
    "DataError": "converters.errors",
    "SpecError": "converters.errors",
    "ConversionError": "converters.errors",
    "ParityError": "converters.errors",
}

__all__ = [
    "CleaningPolicy",
    "CleaningReport",
    "ColumnMap",
    "ConversionError",
    "ConversionResult",
    "ConverterError",
    "DataError",
    "Dataset",
    "GoldenSample",
    "ModelShapes",
    "ModelSpec",
    "ParityError",
    "ParityReport",
    "Preprocessing",
    "RawSample",
    "SpecError",
    "Split",
    "Tensors",
    "TrainConfig",
    "TrainedModel",
    "build_bundle",
    "build_model",
    "convert",
    "convert_modes",
    "fit_preprocessing",
    "format_table",
    "inference_copy",
    "load_manifest",
    "make_tensors",
    "prepare_dataset",
    "raw_samples",
    "split_rows",
    "train",
    "validate",
    "write_html_report",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
