"""How ``edge-sdk run`` gets its index: the stage on the pipeline's frame hook, ``cmd/search`` on MQTT.

Kept here so :mod:`edge_sdk.runtime` needs one call, :func:`attach_index`, while it builds; it then
gives the stage the pipeline's frames with ``Pipeline.add_frame_observer`` (the camera opens once).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from edge_sdk.index.stage import IndexStage

if TYPE_CHECKING:
    from edge_sdk.config import DeviceConfig
    from edge_sdk.model import FusionModel
    from edge_sdk.sinks.base import MQTTSink

__all__ = ["attach_index"]

_log = logging.getLogger(__name__)


def attach_index(config: DeviceConfig, model: FusionModel, publisher: MQTTSink | None,
                 stack: contextlib.ExitStack) -> IndexStage | None:
    """Open the index stage of ``config.index`` (None without one), closed by ``stack``; with a broker,
    answer ``<prefix>/<device>/cmd/search`` and add an ``index`` section to the stats."""
    if config.index is None:
        return None
    from edge_sdk.index.query import SearchService

    policy = config.index.when_full
    # auto: a replay waits for its sinks, so it waits for the index too; a live camera never waits
    block = policy == "block" or (policy == "auto" and config.camera.playback == "every_frame")
    if config.index.ingest_in_process:  # embed, thumbnail and writes off the runtime's interpreter lock
        from edge_sdk.index.ingest_process import ProcessIndexStage

        stage: IndexStage = ProcessIndexStage.open(config.index, model, block_when_full=block)
    else:
        stage = IndexStage.open(config.index, model, block_when_full=block).start()
    stack.callback(stage.close)
    if publisher is not None:
        service = SearchService(stage.index, device=config.device, base_topic=publisher.topics.base,
                                publish=lambda topic, payload, qos: publisher.publish_raw(topic, payload, qos=qos))
        publisher.on_command("search", service.handle_text, payload_format="text")
        publisher.add_stats_section("index", stage.stats)
    stats = stage.stats()
    _log.info("indexing frames into %s (%s, on %s)", config.index.path,
              "embedded by the run's own model" if not stats["embeds_here"] else "embed_image beside the run",
              f"ingest process {stats['ingest_pid']}" if stats["ingest"] == "process" else "a writer thread")
    return stage
