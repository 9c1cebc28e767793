"""The ``edge_sdk.caption/1`` payload: one caption or translation, as published on its own topic.

Documented by ``edge_sdk/schemas/caption-1.json``. ``(boot, seq)`` identify a message (``seq`` counts
this run's descriptions, 1, 2, 3...); ``result_ts`` ties it to the ``edge_sdk.result/2`` result of the
same frame on ``events``, which carries the same description in its ``result``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_sdk.describe.serving import DescribedText
    from edge_sdk.pipeline.result import Result

__all__ = ["CAPTION_SCHEMA", "caption_payload"]

CAPTION_SCHEMA = "edge_sdk.caption/1"


def caption_payload(result: Result, described: DescribedText, *, device: str, boot: str, seq: int,
                    model: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-ready payload of ``described``, the task result of ``result``."""
    from edge_sdk.tasks.base import finite

    encode_ms, decode_ms = round(described.encode_ms, 3), round(described.decode_ms, 3)
    return {
        "schema": CAPTION_SCHEMA, "device": device, "boot": boot, "seq": seq, "ts": round(result.ts, 4),
        "task": described.mode, "text": described.text, "source_text": described.source_text,
        "tokens": list(described.tokens),
        "token_log_probs": [round(finite(v, "caption token_log_probs"), 6) for v in described.token_log_probs],
        "score": round(finite(described.score, "caption score"), 6), "finished": described.finished,
        "beam_size": described.beam_size, "steps": described.steps,
        "encode_ms": encode_ms, "decode_ms": decode_ms, "total_ms": round(encode_ms + decode_ms, 3),
        "frame_ts": round(result.frame_ts, 4), "media_t_s": result.media_t_s,
        "model": {"name": model.get("name"), "version": model.get("version"), "quant": model.get("quant"),
                  "sha256": model.get("sha256")},
    }
