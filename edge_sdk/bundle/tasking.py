"""The task of a signature: the manifest's ``task`` entry, or the one its output roles imply.

A schema 1 bundle (and a schema 2 signature without a task) carries no task: a ``scores`` output
makes it a classifier (``logits``: one with softmax), anything else passes its outputs through as
``raw``. An explicit task that leaves ``outputs`` empty takes them from the outputs' roles, and
``labels`` from the output that has them. ``wrap`` stores what this resolves, so the loader and
the file agree on the task.
"""

from __future__ import annotations

from typing import Any

from edge_sdk.bundle.manifest import SignatureSpec
from edge_sdk.tasks.base import TaskSpec

__all__ = ["task_spec"]

_UNTASKED_ROLES = ("raw", "state")


def task_spec(signature: SignatureSpec) -> TaskSpec:
    """The :class:`TaskSpec` this signature serves; BundleError when its task does not fit its outputs."""
    task: dict[str, Any] = dict(signature.task) if signature.task is not None else {}
    if not task:
        scores = next((o for o in signature.outputs if o.role in ("scores", "logits")), None)
        if scores is None:
            task = {"kind": "raw", "outputs": {}}
        else:
            task = {"kind": "classify", "outputs": {"scores": scores.name},
                    "params": {"activation": "softmax"} if scores.role == "logits" else {}}
    outputs = dict(task.get("outputs") or {})
    if not outputs and task.get("kind") != "raw":
        outputs = {("scores" if o.role == "logits" else o.role): o.name
                   for o in signature.outputs if o.role not in _UNTASKED_ROLES}
    labels = tuple(task.get("labels") or ())
    if not labels and task.get("kind") != "raw":
        labelled = [o for o in signature.outputs if o.name in outputs.values() and o.labels]
        labels = labelled[0].labels if labelled else ()
    return TaskSpec.from_dict({**task, "outputs": outputs, "labels": list(labels)})
