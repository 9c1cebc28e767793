"""SSD anchors as MediaPipe's ``SsdAnchorsCalculator`` makes them, and box decoding against them.

The options carry MediaPipe's names (``SsdAnchorsCalculatorOptions``), so a graph's ``.pbtxt`` block
copies over as is; the multiscale variant (``multiscale_anchor_generation``) is not supported.
Layers that share a stride are merged as MediaPipe does: their anchors interleave per grid cell.
BlazeFace short-range (128x128, strides 8, 16, 16, 16) gives 896 anchors, the SSD MobileNet
example of the calculator (300x300, six layers) 1917.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge_sdk.tasks._options import check

__all__ = ["SsdAnchorOptions", "generate_ssd_anchors"]


@dataclass(frozen=True)
class SsdAnchorOptions:
    """``SsdAnchorsCalculatorOptions``: one stride per layer; feature map sizes override ceil(input / stride)."""

    input_size_width: int
    input_size_height: int
    min_scale: float
    max_scale: float
    num_layers: int
    strides: tuple[int, ...]
    aspect_ratios: tuple[float, ...] = ()
    feature_map_width: tuple[int, ...] = ()
    feature_map_height: tuple[int, ...] = ()
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    reduce_boxes_in_lowest_layer: bool = False
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = False

    def __post_init__(self) -> None:
        check(self.input_size_width > 0, "input_size_width", f"expected a positive size. Got: {self.input_size_width}")
        check(self.input_size_height > 0, "input_size_height",
              f"expected a positive size. Got: {self.input_size_height}")
        check(self.num_layers >= 1, "num_layers", f"expected at least 1. Got: {self.num_layers}")
        check(len(self.strides) == self.num_layers, "strides",
              f"expected one stride per layer ({self.num_layers}). Got: {len(self.strides)}")
        check(all(s > 0 for s in self.strides), "strides", f"expected positive strides. Got: {list(self.strides)}")
        for name in ("feature_map_width", "feature_map_height"):
            sizes = getattr(self, name)
            check(not sizes or len(sizes) == self.num_layers, name,
                  f"expected one size per layer ({self.num_layers}) or none. Got: {len(sizes)}")
        check(bool(self.feature_map_width) == bool(self.feature_map_height), "feature_map_height",
              "give feature_map_width and feature_map_height together")
        check(all(r > 0 for r in self.aspect_ratios), "aspect_ratios",
              f"expected positive ratios. Got: {list(self.aspect_ratios)}")
        check(bool(self.aspect_ratios) or self.interpolated_scale_aspect_ratio > 0 or self.reduce_boxes_in_lowest_layer,
              "aspect_ratios", "no anchor shape: give aspect_ratios or a positive interpolated_scale_aspect_ratio")


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def _shapes(options: SsdAnchorOptions, first: int, last: int) -> tuple[list[float], list[float]]:
    """(widths, heights) of the anchors of one grid cell for layers ``first`` to ``last`` (one stride)."""
    count = options.num_layers
    widths: list[float] = []
    heights: list[float] = []
    for layer in range(first, last):
        scale = _scale(options.min_scale, options.max_scale, layer, count)
        if layer == 0 and options.reduce_boxes_in_lowest_layer:
            ratios, scales = [1.0, 2.0, 0.5], [0.1, scale, scale]
        else:
            ratios = list(options.aspect_ratios)
            scales = [scale] * len(ratios)
            if options.interpolated_scale_aspect_ratio > 0.0:
                following = 1.0 if layer == count - 1 else _scale(options.min_scale, options.max_scale, layer + 1,
                                                                   count)
                scales.append(math.sqrt(scale * following))
                ratios.append(options.interpolated_scale_aspect_ratio)
        for ratio, size in zip(ratios, scales):
            widths.append(size * math.sqrt(ratio))
            heights.append(size / math.sqrt(ratio))
    return widths, heights


def generate_ssd_anchors(options: SsdAnchorOptions) -> npt.NDArray[np.float32]:
    """Anchors, shape (N, 4): x_center, y_center, w, h, normalised; in MediaPipe's order."""
    chunks = []
    layer = 0
    while layer < options.num_layers:
        last = layer
        while last < options.num_layers and options.strides[last] == options.strides[layer]:
            last += 1
        widths, heights = _shapes(options, layer, last)
        if options.feature_map_width:
            rows, cols = options.feature_map_height[layer], options.feature_map_width[layer]
        else:
            rows = math.ceil(options.input_size_height / options.strides[layer])
            cols = math.ceil(options.input_size_width / options.strides[layer])
        per_cell = len(widths)
        chunk = np.empty((rows, cols, per_cell, 4), dtype=np.float32)
        chunk[..., 0] = ((np.arange(cols, dtype=np.float32) + options.anchor_offset_x) / cols)[None, :, None]
        chunk[..., 1] = ((np.arange(rows, dtype=np.float32) + options.anchor_offset_y) / rows)[:, None, None]
        if options.fixed_anchor_size:
            chunk[..., 2:] = 1.0
        else:
            chunk[..., 2] = np.asarray(widths, dtype=np.float32)
            chunk[..., 3] = np.asarray(heights, dtype=np.float32)
        chunks.append(chunk.reshape(-1, 4))
        layer = last
    return np.concatenate(chunks, axis=0)
