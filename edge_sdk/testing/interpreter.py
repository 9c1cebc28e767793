"""A model run with nothing of edge_sdk in between: the reference the runtime's raw outputs must equal."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from edge_sdk._lazy import require

__all__ = ["run_directly"]


def run_directly(path: str | Path, key: str | None, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs by name of one ai-edge-litert invoke: through signature ``key`` (None: the only one), or
    by tensor name for a model without a SignatureDef."""
    interpreter = require("ai_edge_litert.interpreter", "running a model directly").Interpreter(model_path=str(path))
    if interpreter.get_signature_list():
        return dict(interpreter.get_signature_runner(key)(**tensors))
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], tensors[detail["name"]])
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
