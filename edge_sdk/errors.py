"""The one exception tree of ``edge_sdk``.

Every error the device runtime raises on purpose is an :class:`EdgeSDKError`. Each subclass also
subclasses the matching builtin, so ``except ValueError`` still works for callers that do not know
this package::

    EdgeSDKError
    ├── ConfigError(ValueError)          a config file or option is wrong
    ├── BundleError(ValueError)          a model bundle is corrupt, inconsistent or fails its goldens
    ├── InputError(ValueError)           an image, text or sensor value cannot be fed to the model
    ├── BackendError(RuntimeError)       the TFLite interpreter failed to load or run
    │   ├── MissingOpError               the model needs ops this runtime lacks (custom, Select TF, newer builtin)
    │   └── ModelFormatError(ValueError) the bytes are not a (whole) TFLite flatbuffer
    ├── MissingDependencyError(ImportError)   an optional extra is not installed
    ├── SourceError(OSError)             a camera, video, text or sensor source failed
    ├── PublishError(OSError)            MQTT delivery failed (auth, TLS, broker refused)
    └── PipelineError(RuntimeError)      a pipeline stage died; ``__cause__`` is the stage's error

Errors from OpenCV, paho-mqtt, pyserial and the interpreter are translated at the boundary with
``raise ... from exc`` so the original stays attached.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BundleError",
    "ConfigError",
    "EdgeSDKError",
    "InputError",
    "MissingDependencyError",
    "MissingOpError",
    "ModelFormatError",
    "PipelineError",
    "PublishError",
    "SourceError",
]


class EdgeSDKError(Exception):
    """Base of every error raised on purpose by edge_sdk."""


class ConfigError(EdgeSDKError, ValueError):
    """A config file, key or value is invalid."""


class BundleError(EdgeSDKError, ValueError):
    """A model bundle is unreadable, inconsistent with its flatbuffer, or fails its golden vectors."""


class InputError(EdgeSDKError, ValueError):
    """An input (image, text, sensor reading) does not fit what the model expects."""


class BackendError(EdgeSDKError, RuntimeError):
    """The inference backend could not load or run the model."""


class MissingOpError(BackendError):
    """The model uses ops the runtime does not have; ``ops`` names them and ``kind`` says which kind.

    ``kind`` is ``"custom"`` (a custom op), ``"select_tf"`` (TensorFlow ops run by the Flex delegate) or
    ``"builtin_version"`` (a builtin op in a version newer than the runtime).
    """

    def __init__(self, message: str, ops: tuple[str, ...] = (), kind: str = "custom") -> None:
        super().__init__(message)
        self.ops = ops
        self.kind = kind


class ModelFormatError(BackendError, ValueError):
    """The bytes given as a model are not a TFLite flatbuffer (text, an archive, empty) or are truncated."""


class MissingDependencyError(EdgeSDKError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class SourceError(EdgeSDKError, OSError):
    """A camera, video, text or sensor source failed."""


class PublishError(EdgeSDKError, OSError):
    """Publishing results failed in a way that retrying will not fix (auth, TLS, bad topic)."""


class PipelineError(EdgeSDKError, RuntimeError):
    """A pipeline stage stopped with an error; the stage's own error is the ``__cause__``."""
