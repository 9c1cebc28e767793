"""The one exception tree of ``converters`` (the host toolchain)::

    ConverterError
    ├── DataError(ValueError)          a manifest, row, image or label is unusable
    ├── SpecError(ValueError)          a model or training spec is invalid
    ├── ConversionError(RuntimeError)  TFLite conversion failed or crashed, or needs Select TF ops
    └── ParityError(AssertionError)    the converted model disagrees with Keras beyond tolerance

Errors from the device package (``edge_sdk.errors``) pass through unchanged: they already say what
was expected and what came.
"""

from __future__ import annotations

__all__ = ["ConversionError", "ConverterError", "DataError", "ParityError", "SpecError"]


class ConverterError(Exception):
    """Base of every error raised on purpose by converters."""


class DataError(ConverterError, ValueError):
    """A manifest, row, image, text or label is unusable; the message names the row and column."""


class SpecError(ConverterError, ValueError):
    """A model, training or conversion spec is invalid."""


class ConversionError(ConverterError, RuntimeError):
    """TFLite conversion failed, crashed, or would need ops the device runtimes lack."""


class ParityError(ConverterError, AssertionError):
    """The converted model disagrees with the Keras model beyond the stated tolerance."""
