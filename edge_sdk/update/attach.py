"""Wire an :class:`UpdateAgent` to the runtime's MQTT connection: ``cmd/model``, ``cmd/model_chunk``,
reports on ``update``, and an ``update`` section in every stats message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_sdk.model import FusionModel
from edge_sdk.pipeline import Pipeline
from edge_sdk.update.agent import UpdateAgent
from edge_sdk.update.boot import Boot
from edge_sdk.update.chunks import ChunkReceiver
from edge_sdk.update.config import UpdateConfig

__all__ = ["attach_updates"]


def attach_updates(config: UpdateConfig, pipeline: Pipeline, boot: Boot, load: Callable[[str | Path], FusionModel],
                   device: str, publisher: Any | None, *, signature: str | None = None) -> UpdateAgent:
    send = None
    if publisher is not None:
        send = lambda topic, payload: publisher.publish_raw(topic, payload, qos=1)
    agent = UpdateAgent(config, pipeline, boot, load, device=device, send=send, signature=signature)
    if publisher is not None:
        chunks = ChunkReceiver()
        agent.attach_chunks(chunks)
        publisher.on_command("model", agent.handle_announcement)
        publisher.on_command("model_chunk", chunks.on_chunk)
        publisher.add_stats_section("update", agent.stats)
    return agent.start()
