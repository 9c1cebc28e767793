"""Shared by the task tests: the result-2 validator, a full v2 envelope, a letterbox transform."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import numpy as np
import numpy.typing as npt
import pytest

from edge_sdk.tasks import TaskResult, result_payload_fields


@pytest.fixture(scope="session")
def result2_validator() -> Any:
    schema = json.loads(resources.files("edge_sdk").joinpath("schemas", "result-2.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def envelope(result: TaskResult, seq: int = 1) -> dict[str, Any]:
    """A complete ``edge_sdk.result/2`` message around ``result``, through JSON and back."""
    payload = {"schema": "edge_sdk.result/2", "device": "pi-kitchen", "seq": seq, "boot": "5f" * 16,
               "ts": 1764400000.123, **result_payload_fields(result),
               "inputs": {"frame_ts": 1764400000.101, "text": None},
               "model": {"name": "m", "version": "1", "quant": "int8", "sha256": "ab" * 32},
               "timing_ms": {"invoke": 8.5, "post": 0.2}, "replayed": False}
    decoded: dict[str, Any] = json.loads(json.dumps(payload, allow_nan=False))
    return decoded


class Letterbox:
    """Undoes a letterbox of a ``src_w`` x ``src_h`` frame into a ``dst_w`` x ``dst_h`` model input."""

    def __init__(self, src_w: int, src_h: int, dst_w: int, dst_h: int) -> None:
        self.scale = min(dst_w / src_w, dst_h / src_h)
        self.pad = np.array([(dst_w - src_w * self.scale) / 2, (dst_h - src_h * self.scale) / 2])
        self.dst = np.array([dst_w, dst_h], dtype=np.float64)
        self.src = np.array([src_w, src_h], dtype=np.float64)

    def to_source(self, points_xy: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out: npt.NDArray[Any] = (points_xy * self.dst - self.pad) / self.scale / self.src
        return out
