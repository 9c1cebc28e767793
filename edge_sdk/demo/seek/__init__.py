"""The seek demo world: scenes, datasets and clips that need image, text and sensor together."""

from edge_sdk.demo.seek.dataset import MANIFEST_COLUMNS, write_dataset
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
    "COLORS",
    "LABELS",
    "MANIFEST_COLUMNS",
    "SHAPES",
    "ClipFrame",
    "ClipPaths",
    "Scene",
    "SeekClip",
    "ShapeInstance",
    "command_text",
    "label_for",
    "render_scene",
    "sample_scene",
    "write_clip",
    "write_dataset",
]
