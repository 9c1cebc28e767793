"""An interpreter's load failure restated: which ops are missing and what to do about it.

The runtimes say it in prose, e.g. ``Encountered unresolved custom op: MatrixDeterminant.``,
``Select TensorFlow op(s), included in the given model, is(are) not supported by this interpreter ...
Node number 58 (FlexMatrixDeterminant) failed to prepare.`` or ``Didn't find op for builtin opcode
'GELU' version '2'``. The op names are parsed from that text and completed from the flatbuffer's own
op codes (a Select TF model lists all its ``Flex...`` ops there; the runtime names only the first).
"""

from __future__ import annotations

import re

from edge_sdk.backends.flatbuffer import ModelOps
from edge_sdk.errors import BackendError, MissingOpError

__all__ = ["load_error"]

_UNRESOLVED = re.compile(r"unresolved custom op: ([\w./-]+?)\.?(?:\s|$)")
_NODE = re.compile(r"Node number \d+ \(([\w./-]+)\) failed to prepare")
_BUILTIN_VERSION = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")
_NOT_REGISTERED = re.compile(r"Op type not registered '(\w+)'")
_SELECT_TF = ("select tensorflow op", "flex delegate")


def _unique(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for name in names if name))


def _listed(ops: tuple[str, ...]) -> str:
    return ", ".join(ops) if ops else "(not named by the runtime)"


def load_error(runtime: str, message: str, ops: ModelOps | None) -> BackendError:
    """The error to raise for an interpreter's load failure ``message``: a MissingOpError when ops are missing."""
    message = message.strip()
    half = len(message) // 2
    if message and message[:half] == message[half:]:  # tflite-runtime repeats its error report
        message = message[:half]
    lowered = message.lower()
    versions = _BUILTIN_VERSION.findall(message)
    if versions:
        names = _unique([f"{op} version {version}" for op, version in versions])
        return MissingOpError(
            f"the model needs builtin op(s) {_listed(names)}, newer than {runtime} has: it was converted by a newer "
            "TensorFlow than this runtime was built from. Use a newer runtime (pip install -U ai-edge-litert) or "
            f"re-convert the model with an older TensorFlow. The runtime said: {message}",
            ops=_unique([op for op, _ in versions]),
            kind="builtin_version",
        )
    custom_named = _UNRESOLVED.findall(message)
    flex_named = [name for name in _NODE.findall(message) if name.startswith("Flex")]
    flex_named += _NOT_REGISTERED.findall(message)
    if any(marker in lowered for marker in _SELECT_TF) or flex_named:
        declared = [name for name in (ops.custom if ops else ()) if name.startswith("Flex")]
        names = _unique(flex_named + declared)
        return MissingOpError(
            f"the model uses Select TensorFlow op(s) {_listed(names)}, which {runtime} does not have (they need the "
            "Flex delegate, part of full TensorFlow only). Re-convert the model with TFLite builtin ops only "
            "(converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]), or replace those ops in "
            f"the source model. The runtime said: {message}",
            ops=names,
            kind="select_tf",
        )
    if custom_named or "custom op" in lowered:
        names = _unique(custom_named or [n for n in _NODE.findall(message) if n in (ops.custom if ops else ())])
        return MissingOpError(
            f"the model uses custom op(s) {_listed(names)} that {runtime} does not register. Run it with a runtime "
            "built with those ops, or re-convert the model with TFLite builtin ops only (without allow_custom_ops). "
            f"The runtime said: {message}",
            ops=names,
            kind="custom",
        )
    return BackendError(f"{runtime} cannot load the model: {message}")
