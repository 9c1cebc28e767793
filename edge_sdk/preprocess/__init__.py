"""Preprocessing shared by training and serving: one code path, so tensors match bit for bit."""

from edge_sdk.preprocess.geometry import FrameTransform, RegionOfInterest
from edge_sdk.preprocess.image import (
    ImageSpec,
    decode_image,
    normalize_image,
    prepare_image,
    prepare_image_with_transform,
    read_image,
)
from edge_sdk.preprocess.sensor import SensorChannel, SensorSpec, scale_sensor
from edge_sdk.preprocess.tensor import TensorSpec, prepare_tensor
from edge_sdk.preprocess.text import Tokenizer, TokenizerSpec

__all__ = [
    "FrameTransform",
    "ImageSpec",
    "RegionOfInterest",
    "SensorChannel",
    "SensorSpec",
    "TensorSpec",
    "Tokenizer",
    "TokenizerSpec",
    "decode_image",
    "normalize_image",
    "prepare_image",
    "prepare_image_with_transform",
    "prepare_tensor",
    "read_image",
    "scale_sensor",
]
