"""The rolling embedding index for retrieval: what the camera saw, searchable by text.

:class:`Index` stores frame embeddings with their times and JPEG thumbnails (persisted, bounded by
count and age, oldest first out); :class:`IndexStage` feeds it from ``edge-sdk run`` without
stalling the camera; :mod:`edge_sdk.index.query` answers ``cmd/search`` over MQTT and
``edge-sdk search``. Importing this package loads nothing heavy: names load on first use.
"""

from edge_sdk._lazy import lazy_exports

_EXPORTS = {
    "FrameRecord": "edge_sdk.index.checks",
    "Index": "edge_sdk.index.store",
    "SearchHit": "edge_sdk.index.checks",
    "IndexConfig": "edge_sdk.index.config",
    "IndexStage": "edge_sdk.index.stage",
    "ImageEmbedder": "edge_sdk.index.embedder",
    "TextEmbedder": "edge_sdk.index.embedder",
    "SearchService": "edge_sdk.index.query",
    "parse_duration_s": "edge_sdk.index.query",
}

__all__ = [
    "FrameRecord",
    "ImageEmbedder",
    "Index",
    "IndexConfig",
    "IndexStage",
    "SearchHit",
    "SearchService",
    "TextEmbedder",
    "parse_duration_s",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
