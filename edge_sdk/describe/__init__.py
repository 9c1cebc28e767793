"""Describing frames with a generate bundle: captions, and translations of text commands given the frame.

:class:`GenerateServing` puts a :class:`~edge_sdk.generator.Generator` where ``edge-sdk run`` serves its
model, so the search runs on the pipeline's worker; :class:`DescribeGate` picks the frames worth a
description (``every_s``, ``on_change``, a new text); :func:`attach_describe` publishes each one as
``edge_sdk.caption/1`` on ``<prefix>/<device>/caption`` (or ``translation``). ``edge-sdk caption`` and
``edge-sdk translate`` (:mod:`edge_sdk.describe.cli`) do the same for one file. Importing this
package loads nothing heavy: names load on first use.
"""

from edge_sdk._lazy import lazy_exports

_EXPORTS = {
    "CAPTION_SCHEMA": "edge_sdk.describe.payload",
    "DescribeConfig": "edge_sdk.describe.config",
    "DescribeGate": "edge_sdk.describe.gate",
    "DescribeStage": "edge_sdk.describe.wiring",
    "DescribedText": "edge_sdk.describe.serving",
    "DescriptionPublisher": "edge_sdk.describe.wiring",
    "GenerateServing": "edge_sdk.describe.serving",
    "attach_describe": "edge_sdk.describe.wiring",
    "caption_payload": "edge_sdk.describe.payload",
    "is_generate_bundle": "edge_sdk.describe.serving",
}

__all__ = [
    "CAPTION_SCHEMA",
    "DescribeConfig",
    "DescribeGate",
    "DescribeStage",
    "DescribedText",
    "DescriptionPublisher",
    "GenerateServing",
    "attach_describe",
    "caption_payload",
    "is_generate_bundle",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
