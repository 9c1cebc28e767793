"""The seek demo world: scenes, datasets and clips that need image, text and sensor together."""

from edge_sdk.demo.seek.captions import Query, describe, matches
from edge_sdk.demo.seek.dataset import CAPTION_COLUMNS, MANIFEST_COLUMNS, write_caption_dataset, write_dataset
from edge_sdk.demo.seek.video import ClipFrame, ClipPaths, SeekClip, write_clip
from edge_sdk.demo.seek.world import (
    BLOCKED_BELOW_CM,
    COLORS,
    LABELS,
    SHAPES,
    Scene,
    ShapeInstance,
    command_text,
    label_for,
    render_scene,
    sample_scene,
)

__all__ = [
    "BLOCKED_BELOW_CM",
    "CAPTION_COLUMNS",
    "COLORS",
    "LABELS",
    "MANIFEST_COLUMNS",
    "SHAPES",
    "ClipFrame",
    "ClipPaths",
    "Query",
    "Scene",
    "SeekClip",
    "ShapeInstance",
    "command_text",
    "describe",
    "label_for",
    "matches",
    "render_scene",
    "sample_scene",
    "write_caption_dataset",
    "write_clip",
    "write_dataset",
]
