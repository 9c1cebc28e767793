"""Read a TFLite flatbuffer's op set without an interpreter: op counts, Select TF ops, float ops.

The interpreter cannot even load a model that needs Select TF (Flex) ops, so the flatbuffer is
parsed directly with the schema that ``ai_edge_litert`` ships (no TensorFlow needed).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from edge_sdk._lazy import require
from edge_sdk.bundle import Quantization

__all__ = ["OpSet", "TensorInfo", "inspect_ops", "signature_io"]

# Ops that move data across the float/integer boundary on purpose: not "left in float".
_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
_FLOAT_TYPES = frozenset({"FLOAT32", "FLOAT16", "FLOAT64"})


@dataclass(frozen=True)
class TensorInfo:
    """One signature input or output as the flatbuffer declares it."""

    name: str
    tensor_index: int
    shape: tuple[int, ...]  # -1 where the dimension is dynamic
    dtype: str  # numpy name: float32, int8, uint8, int32, ...
    quantization: Quantization | None  # None for float tensors and per-axis quantization

    def to_dict(self) -> dict[str, Any]:
        quant = self.quantization
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "quantization": {"scale": quant.scale, "zero_point": quant.zero_point} if quant else None,
        }


@dataclass(frozen=True)
class OpSet:
    """What a converted model runs: op name -> count over every subgraph."""

    op_counts: dict[str, int]
    select_tf_ops: tuple[str, ...]  # custom "Flex*" ops, sorted
    custom_ops: tuple[str, ...]  # other custom ops, sorted
    subgraphs: int
    float_ops: dict[str, int] = field(default_factory=dict)  # ops computing on float tensors

    @property
    def has_control_flow(self) -> bool:
        return self.subgraphs > 1 or any(op in self.op_counts for op in ("WHILE", "IF", "CALL_ONCE"))

    @property
    def builtin_only(self) -> bool:
        return not self.select_tf_ops and not self.custom_ops and not self.has_control_flow

    def to_dict(self) -> dict[str, Any]:
        return {
            "op_counts": dict(sorted(self.op_counts.items())),
            "select_tf_ops": list(self.select_tf_ops),
            "custom_ops": list(self.custom_ops),
            "subgraphs": self.subgraphs,
            "float_ops": dict(sorted(self.float_ops.items())),
            "builtin_only": self.builtin_only,
        }


def inspect_ops(flatbuffer: bytes) -> OpSet:
    """Count the ops of every subgraph and find the ones that still compute in float.

    An op counts as float when one of its non-constant inputs or outputs is a float tensor,
    except QUANTIZE/DEQUANTIZE (the intended boundary). In a float model every op is float; in
    a full-integer model this list should be empty.
    """
    schema = require("ai_edge_litert.schema_py_generated", "reading TFLite flatbuffers")
    model = schema.Model.GetRootAs(flatbuffer, 0)
    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}

    codes: list[str] = []
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            codes.append((code.CustomCode() or b"CUSTOM").decode())
        else:
            codes.append(builtin_names.get(builtin, f"BUILTIN_{builtin}"))

    counts: Counter[str] = Counter()
    float_ops: Counter[str] = Counter()
    for sub_index in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(sub_index)
        for op_index in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(op_index)
            name = codes[op.OpcodeIndex()]
            counts[name] += 1
            if name in _BOUNDARY_OPS:
                continue
            tensors = [int(t) for t in op.InputsAsNumpy()] if op.InputsLength() else []
            tensors += [int(t) for t in op.OutputsAsNumpy()] if op.OutputsLength() else []
            if any(t >= 0 and _is_float_activation(model, subgraph, t, type_names) for t in tensors):
                float_ops[name] += 1

    select = tuple(sorted({c for c in counts if c.startswith("Flex")}))
    custom = tuple(sorted({c for c in counts if c not in builtin_names.values() and c not in select}))
    return OpSet(
        op_counts=dict(counts),
        select_tf_ops=select,
        custom_ops=custom,
        subgraphs=model.SubgraphsLength(),
        float_ops=dict(float_ops),
    )


def _is_float_activation(model: Any, subgraph: Any, tensor_index: int, type_names: dict[int, str]) -> bool:
    tensor = subgraph.Tensors(tensor_index)
    if type_names.get(tensor.Type()) not in _FLOAT_TYPES:
        return False
    buffer_index = tensor.Buffer()
    if buffer_index > 0:
        buffer = model.Buffers(buffer_index)
        # Weights live in the buffer (small models) or past the flatbuffer (offset/size, >2 GB models).
        if buffer.DataLength() > 0 or buffer.Size() > 0:
            return False
    return True


def signature_io(flatbuffer: bytes, signature_key: str = "serving_default") -> tuple[dict[str, TensorInfo], dict[str, TensorInfo]]:
    """Inputs and outputs of a signature, keyed by signature name, read from the flatbuffer."""
    schema = require("ai_edge_litert.schema_py_generated", "reading TFLite flatbuffers")
    model = schema.Model.GetRootAs(flatbuffer, 0)
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    keys = [model.SignatureDefs(i).SignatureKey().decode() for i in range(model.SignatureDefsLength())]
    if signature_key not in keys:
        raise ValueError(f"the model has no signature {signature_key!r}. Got signatures: {keys}")
    signature = model.SignatureDefs(keys.index(signature_key))
    subgraph = model.Subgraphs(signature.SubgraphIndex())

    def info(tensor_map: Any) -> TensorInfo:
        index = tensor_map.TensorIndex()
        tensor = subgraph.Tensors(index)
        shape = tensor.ShapeSignatureAsNumpy() if tensor.ShapeSignatureLength() else tensor.ShapeAsNumpy()
        quant = tensor.Quantization()
        quantization = None
        if quant is not None and quant.ScaleLength() == 1 and float(quant.Scale(0)) > 0:
            quantization = Quantization(float(quant.Scale(0)), int(quant.ZeroPoint(0)))
        return TensorInfo(
            name=tensor_map.Name().decode(),
            tensor_index=index,
            shape=tuple(int(d) for d in shape),
            dtype=type_names.get(tensor.Type(), str(tensor.Type())),
            quantization=quantization,
        )

    inputs = [info(signature.Inputs(i)) for i in range(signature.InputsLength())]
    outputs = [info(signature.Outputs(i)) for i in range(signature.OutputsLength())]
    return {t.name: t for t in inputs}, {t.name: t for t in outputs}
