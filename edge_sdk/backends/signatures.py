"""Tensor bindings, model descriptions and one runner per signature on a shared interpreter.

A signature binds by its own input and output names; a model without a SignatureDef (most published
models) binds its primary subgraph's inputs and outputs by tensor name. A :class:`TFLiteRunner` sets,
invokes and reads its signature's subgraph directly: tensors are allocated once when it is bound, not
on every call as ``SignatureRunner.__call__`` does (it resizes every input and re-allocates first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_sdk.errors import BackendError, InputError

__all__ = ["ModelDescription", "SignatureDescription", "TFLiteRunner", "TensorBinding", "describe_interpreter"]


@dataclass(frozen=True)
class TensorBinding:
    """One input or output: the name it is bound by, where it lives and how it is quantized."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int
    tensor_name: str = ""  # the tensor's own name in the flatbuffer (equal to ``name`` without a SignatureDef)
    shape_signature: tuple[int, ...] = ()  # ``shape`` with -1 for the dimensions the model leaves open

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype.kind in "iu"


@dataclass(frozen=True)
class SignatureDescription:
    """A signature's inputs and outputs by name; ``key`` is None for a model without a SignatureDef."""

    key: str | None
    inputs: Mapping[str, TensorBinding]
    outputs: Mapping[str, TensorBinding]

    def __str__(self) -> str:
        return f"{self.key or '(no signature)'}: {', '.join(self.inputs)} -> {', '.join(self.outputs)}"


@dataclass(frozen=True)
class ModelDescription:
    """What a model offers: its signatures (may be none) and its primary subgraph's tensors by tensor name."""

    signatures: Mapping[str, SignatureDescription]
    inputs: Mapping[str, TensorBinding]
    outputs: Mapping[str, TensorBinding]
    custom_ops: tuple[str, ...] = ()
    stateful: bool = False  # keeps resource variables between calls (streaming state)

    @property
    def has_signature_defs(self) -> bool:
        return bool(self.signatures)

    def signature(self, key: str | None = None) -> SignatureDescription:
        """The signature ``key`` (or the one TFLiteBackend binds without one); the tensors if there are none."""
        if not self.signatures:
            if key is not None:
                raise BackendError(f"the model has no SignatureDef, so no signature {key!r}")
            return SignatureDescription(None, self.inputs, self.outputs)
        return self.signatures[choose_signature(self.signatures, key)]


def choose_signature(signatures: Mapping[str, Any], requested: str | None) -> str:
    """The signature key to bind: the requested one, the only one, or ``serving_default`` among several."""
    if requested is not None:
        if requested not in signatures:
            raise BackendError(f"the model has no signature {requested!r}. Signatures: {sorted(signatures)}")
        return requested
    if len(signatures) == 1:
        return next(iter(signatures))
    if "serving_default" in signatures:  # what TensorFlow and edge_sdk.bundle.wrap bind by default
        return "serving_default"
    listed = "; ".join(_signature_line(key, sig) for key, sig in sorted(signatures.items()))
    raise BackendError(f"the model has {len(signatures)} signatures and none was chosen: {listed}. Pass signature=KEY")


def _signature_line(key: str, signature: Any) -> str:
    if isinstance(signature, SignatureDescription):
        return str(signature)
    return f"{key}: {', '.join(signature['inputs'])} -> {', '.join(signature['outputs'])}"


def binding(name: str, details: Mapping[str, Any]) -> TensorBinding:
    scale, zero_point = details.get("quantization", (0.0, 0))
    shape = tuple(int(x) for x in details["shape"])
    return TensorBinding(
        name=name,
        index=int(details["index"]),
        shape=shape,
        dtype=np.dtype(details["dtype"]),
        scale=float(scale),
        zero_point=int(zero_point),
        tensor_name=str(details.get("name", name)),
        shape_signature=tuple(int(x) for x in details.get("shape_signature", shape)),
    )


def by_tensor_name(details: list[dict[str, Any]], kind: str) -> dict[str, TensorBinding]:
    bound = {str(d["name"]): binding(str(d["name"]), d) for d in details}
    if len(bound) != len(details):
        names = [d["name"] for d in details]
        raise BackendError(f"the model has no SignatureDef and its {kind} tensors share names: {names}")
    return bound


def describe_interpreter(interpreter: Any, custom_ops: tuple[str, ...] = (), stateful: bool = False) -> ModelDescription:
    signatures = {}
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)
        signatures[key] = SignatureDescription(
            key,
            {name: binding(name, d) for name, d in runner.get_input_details().items()},
            {name: binding(name, d) for name, d in runner.get_output_details().items()},
        )
    return ModelDescription(
        signatures,
        by_tensor_name(interpreter.get_input_details(), "input"),
        by_tensor_name(interpreter.get_output_details(), "output"),
        custom_ops,
        stateful,
    )


class _PrimarySubgraph:
    """The public interpreter calls for subgraph 0, shaped like the wrapper calls a signature uses."""

    __slots__ = ("_interpreter",)

    def __init__(self, interpreter: Any) -> None:
        self._interpreter = interpreter

    def SetTensor(self, index: int, value: Any, subgraph: int) -> None:  # the wrapper's method names
        self._interpreter.set_tensor(index, value)

    def Invoke(self, subgraph: int) -> None:
        self._interpreter.invoke()

    def GetTensor(self, index: int, subgraph: int) -> np.ndarray:
        return self._interpreter.get_tensor(index)


class TFLiteRunner:
    """One signature on an interpreter it may share: ``infer({name: array}) -> {name: array}`` (raw tensors).

    ``key`` is the signature key, or None for a model without a SignatureDef (tensors bound by tensor name).
    Get one from :meth:`TFLiteBackend.signature_runner`; it stays valid across ``reset()``, not after ``close()``.
    """

    def __init__(self, key: str | None, interpreter: Any, runtime: str) -> None:
        self.key = key
        self.runtime = runtime
        self.inputs: dict[str, TensorBinding] = {}
        self.outputs: dict[str, TensorBinding] = {}
        self._calls: Any = None
        self._subgraph = 0
        self._call: Any = None  # SignatureRunner.__call__, for a runtime without the wrapper calls
        self.bind(interpreter)

    def bind(self, interpreter: Any) -> None:
        """(Re)bind to ``interpreter``, e.g. a fresh one after a reset."""
        self._calls, self._call, self._subgraph = None, None, 0
        if self.key is None:
            self.inputs = by_tensor_name(interpreter.get_input_details(), "input")
            self.outputs = by_tensor_name(interpreter.get_output_details(), "output")
            self._calls = _PrimarySubgraph(interpreter)
            return
        runner = interpreter.get_signature_runner(self.key)
        self.inputs = {name: binding(name, d) for name, d in runner.get_input_details().items()}
        self.outputs = {name: binding(name, d) for name, d in runner.get_output_details().items()}
        wrapper, subgraph = getattr(runner, "_interpreter_wrapper", None), getattr(runner, "_subgraph_index", None)
        calls = ("AllocateTensors", "SetTensor", "Invoke", "GetTensor")
        if wrapper is not None and isinstance(subgraph, int) and all(hasattr(wrapper, m) for m in calls):
            wrapper.AllocateTensors(subgraph)  # a no-op for subgraph 0, which the interpreter allocated
            self._calls, self._subgraph = wrapper, subgraph
        else:
            self._call = runner

    def unbind(self) -> None:
        self._calls = self._call = None

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Set every input by name, invoke, and return the output tensors (copies, no dequantization)."""
        calls, subgraph = self._calls, self._subgraph
        if calls is None:
            return self._infer_by_call(inputs)
        for name, bound in self.inputs.items():
            try:
                calls.SetTensor(bound.index, inputs[name], subgraph)
            except KeyError:
                raise self._missing(name, inputs) from None
            except ValueError as exc:
                raise self._mismatch(name, inputs[name]) from exc
        try:
            calls.Invoke(subgraph)
        except RuntimeError as exc:
            raise BackendError(f"{self.runtime} failed to run the model: {exc}") from exc
        return {name: calls.GetTensor(bound.index, subgraph) for name, bound in self.outputs.items()}

    def _infer_by_call(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._call is None:
            raise BackendError("the backend is closed")
        values = {}
        for name, bound in self.inputs.items():
            if name not in inputs:
                raise self._missing(name, inputs)
            value = inputs[name]
            if getattr(value, "dtype", None) != bound.dtype or tuple(getattr(value, "shape", ())) != bound.shape:
                raise self._mismatch(name, value)  # the runner would resize the input to whatever it is given
            values[name] = value
        try:
            return dict(self._call(**values))
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"{self.runtime} failed to run the model: {exc}") from exc

    def _missing(self, name: str, inputs: Mapping[str, object]) -> InputError:
        return InputError(f"missing model input {name!r}. Expected: {sorted(self.inputs)}. Got: {sorted(inputs)}")

    def _mismatch(self, name: str, value: object) -> InputError:
        bound = self.inputs[name]
        return InputError(
            f"input {name!r} must be {bound.dtype} of shape {bound.shape}. "
            f"Got: {getattr(value, 'dtype', type(value).__name__)} of shape {getattr(value, 'shape', '?')}"
        )
