"""The TFLite interpreter backend: ai-edge-litert, else tflite-runtime, else tf.lite.

Tensors are bound by signature name, or by tensor name for a model without a SignatureDef; never by
position. One interpreter can serve several signatures (``signature_runner``). The interpreter is
owned by one thread (the inference worker); this class is not thread-safe by design.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np

from edge_sdk.backends.flatbuffer import ModelOps, check_flatbuffer
from edge_sdk.backends.load_errors import load_error
from edge_sdk.backends.signatures import (
    ModelDescription,
    SignatureDescription,
    TensorBinding,
    TFLiteRunner,
    choose_signature,
    describe_interpreter,
)
from edge_sdk.errors import BackendError, MissingDependencyError

__all__ = ["BACKEND_ENV", "TFLiteBackend", "TFLiteRunner", "TensorBinding", "available_runtimes", "describe_model"]

_log = logging.getLogger(__name__)
BACKEND_ENV = "EDGE_SDK_BACKEND"
# (name, module, interpreter class, op resolver enum); tf.lite is last: importing TensorFlow costs ~1 GB of RSS.
_RUNTIMES = (
    ("ai_edge_litert", "ai_edge_litert.interpreter", "Interpreter", "OpResolverType"),
    ("tflite_runtime", "tflite_runtime.interpreter", "Interpreter", "OpResolverType"),
    ("tensorflow", "tensorflow", "lite.Interpreter", "lite.experimental.OpResolverType"),
)


def available_runtimes() -> list[str]:
    """Names of the interpreter packages that import here, in preference order."""
    found = []
    for name, module, *_ in _RUNTIMES:
        if name == "tensorflow":
            continue  # never import TensorFlow just to list it
        try:
            importlib.import_module(module)
            found.append(name)
        except ImportError:
            pass
    return found


def _attribute(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def _interpreter_class(preferred: str | None) -> tuple[str, Any, Any]:
    """(runtime name, Interpreter class, OpResolverType or None)."""
    preferred = preferred or os.environ.get(BACKEND_ENV) or None
    names = [r[0] for r in _RUNTIMES]
    if preferred is not None and preferred not in names:
        raise BackendError(f"unknown TFLite runtime {preferred!r}. Expected one of {names}")
    errors = []
    for name, module, interpreter, resolver in _RUNTIMES:
        if preferred is not None and name != preferred:
            continue
        try:
            loaded = importlib.import_module(module)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        return name, _attribute(loaded, interpreter), _attribute(loaded, resolver)
    raise MissingDependencyError(
        "no TFLite interpreter can be imported (" + "; ".join(errors) + "). "
        "Install one with: pip install 'edge-fusion-sdk[device]' (ai-edge-litert), or tflite-runtime with numpy<2"
    )


def _delegated(interpreter: Any) -> bool | None:
    """Whether a delegate (XNNPACK, the only default one) took nodes of the primary subgraph; None if unknown."""
    ops_details = getattr(interpreter, "_get_ops_details", None)
    if ops_details is None:
        return None
    try:
        return any(op.get("op_name") == "DELEGATE" for op in ops_details())
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return None


class TFLiteBackend:
    """Runs one signature of a TFLite flatbuffer: ``infer({name: array}) -> {name: array}``.

    ``signature`` picks the signature by key; without one the model's only signature is bound (or
    ``serving_default`` among several), and a model without a SignatureDef binds its tensors by name.
    ``xnnpack`` switches the XNNPACK delegate on or off; None keeps the runtime's default (on, though
    tflite-runtime 2.14 applies it to float models only). ``xnnpack_applied`` says whether it took any
    node. Results of int8 models may differ by a few quantization steps between the two, so a bundle's
    golden vectors hold for the choice they were recorded with.
    """

    def __init__(
        self,
        flatbuffer: bytes,
        num_threads: int | None = None,
        runtime: str | None = None,
        signature: str | None = None,
        xnnpack: bool | None = None,
    ) -> None:
        self._ops: ModelOps = check_flatbuffer(flatbuffer, "model")
        self.runtime, self._interpreter_class, self._resolver = _interpreter_class(runtime)
        self._flatbuffer = flatbuffer
        self.num_threads, self.xnnpack = num_threads, xnnpack
        self._interpreter: Any = self._load()
        self.xnnpack_applied = _delegated(self._interpreter)
        self._signature_list: dict[str, Any] = dict(self._interpreter.get_signature_list())
        if self._signature_list:
            self.signature_key: str | None = choose_signature(self._signature_list, signature)
        elif signature is not None:
            inputs = [d["name"] for d in self._interpreter.get_input_details()]
            raise BackendError(
                f"the model has no SignatureDef, so no signature {signature!r}: leave signature unset to bind "
                f"its tensors by name (inputs {inputs})"
            )
        else:
            self.signature_key = None
        self._runners: dict[str | None, TFLiteRunner] = {}
        self._primary = self._runner(self.signature_key)
        _log.info(
            "loaded model with %s (signature=%s, num_threads=%s, xnnpack=%s, delegated=%s)",
            self.runtime, self.signature_key, num_threads, xnnpack, self.xnnpack_applied,
        )

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> TFLiteBackend:
        """Load a .tflite file; a file that is not one is a ModelFormatError naming the path."""
        data = Path(path).read_bytes()
        check_flatbuffer(data, str(path))
        return cls(data, **options)

    # -- the serving interface ------------------------------------------------------------------
    @property
    def inputs(self) -> dict[str, TensorBinding]:
        return self._primary.inputs

    @property
    def outputs(self) -> dict[str, TensorBinding]:
        return self._primary.outputs

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Set every input by name, invoke, and return the raw output tensors (no dequantization)."""
        return self._primary.infer(inputs)

    def signature_runner(self, key: str | None = None) -> TFLiteRunner:
        """A runner for signature ``key`` on this backend's interpreter (variables are shared between them).

        None is the signature this backend binds (or, without a SignatureDef, the model's tensors).
        """
        if key is None:
            return self._primary
        if key not in self._runners and key not in self._signature_list:
            raise BackendError(f"the model has no signature {key!r}. Signatures: {sorted(self._signature_list)}")
        return self._runner(key)

    @property
    def signatures(self) -> dict[str, SignatureDescription]:
        """Every signature by key with its inputs and outputs; empty for a model without a SignatureDef."""
        return dict(self.describe().signatures)

    def describe(self) -> ModelDescription:
        return describe_interpreter(self._live(), self._ops.custom, self._ops.resource_variables)

    # -- state ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Put every variable back to its initial value, e.g. between two streams of a streaming model.

        ``reset_all_variables`` clears variable tensors but not resource variables (it leaves a tf.Variable
        accumulator as it is), so a model with resource variables gets a fresh interpreter instead; the
        runners already handed out are rebound to it.
        """
        interpreter = self._live()
        reset_all = getattr(interpreter, "reset_all_variables", None)
        if reset_all is not None and not self._ops.resource_variables:
            reset_all()
            return
        fresh = self._load()
        for runner in self._runners.values():
            runner.bind(fresh)
        self._interpreter = fresh
        _log.debug("reset by loading a fresh interpreter")

    def fresh(self) -> TFLiteBackend:
        """A new backend on the same flatbuffer and options, with its own interpreter (e.g. to check goldens)."""
        self._live()
        return TFLiteBackend(self._flatbuffer, self.num_threads, self.runtime, self.signature_key, self.xnnpack)

    def close(self) -> None:
        if self._interpreter is not None:
            for runner in self._runners.values():
                runner.unbind()
            self._interpreter = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers --------------------------------------------------------------------------------
    def _live(self) -> Any:
        if self._interpreter is None:
            raise BackendError("the backend is closed")
        return self._interpreter

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"num_threads": self.num_threads}
        if self.xnnpack is not None:
            if self._resolver is None:
                raise BackendError(f"{self.runtime} has no OpResolverType: XNNPACK cannot be switched on or off")
            choice = "BUILTIN" if self.xnnpack else "BUILTIN_WITHOUT_DEFAULT_DELEGATES"
            options["experimental_op_resolver_type"] = getattr(self._resolver, choice)
        return options

    def _load(self) -> Any:
        try:
            interpreter = self._interpreter_class(model_content=self._flatbuffer, **self._options())
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise load_error(self.runtime, str(exc), self._ops) from exc
        return interpreter

    def _runner(self, key: str | None) -> TFLiteRunner:
        runner = self._runners.get(key)
        if runner is None:
            try:
                runner = TFLiteRunner(key, self._live(), self.runtime)
            except (RuntimeError, ValueError) as exc:  # allocating another signature's subgraph
                if isinstance(exc, BackendError):
                    raise
                raise load_error(self.runtime, str(exc), self._ops) from exc
            self._runners[key] = runner
        return runner


def describe_model(flatbuffer: bytes, runtime: str | None = None) -> ModelDescription:
    """Signatures, inputs and outputs of a model without running it (a model with missing ops too)."""
    ops = check_flatbuffer(flatbuffer, "model")
    name, interpreter_class, _ = _interpreter_class(runtime)
    try:
        interpreter = interpreter_class(model_content=flatbuffer)  # not allocated: unresolved ops do not matter yet
    except (RuntimeError, ValueError) as exc:
        raise load_error(name, str(exc), ops) from exc
    return describe_interpreter(interpreter, ops.custom, ops.resource_variables)
