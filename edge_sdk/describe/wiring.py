"""How ``edge-sdk run`` describes frames: the gate on the worker, the descriptions on their topic.

:func:`attach_describe` is the one call :mod:`edge_sdk.runtime` makes when it serves a generate
bundle (:class:`~edge_sdk.describe.serving.GenerateServing`). The search runs on the pipeline's worker
(it is the served model's "invoke"); each description is a pipeline result, so it takes the
pipeline's sink path (``edge_sdk.result/2`` on ``events``, through the outbox: at least once). Here a
result callback (the dispatcher's callback thread) also sends it as ``edge_sdk.caption/1`` on
``<prefix>/<device>/caption`` (or ``translation``), QoS 1.

Both copies go through the outbox (``publish_durable``: committed before the callback returns,
sent at least once through outages and restarts, a replay marked ``"replayed": true``). The
caption stream has its own ``seq`` (1, 2, 3... per boot), stored with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from edge_sdk.describe.config import DescribeConfig
from edge_sdk.describe.gate import DescribeGate
from edge_sdk.describe.payload import caption_payload
from edge_sdk.describe.serving import DescribedText, GenerateServing

if TYPE_CHECKING:
    from edge_sdk.pipeline import Pipeline, Result
    from edge_sdk.sinks.base import MQTTSink

__all__ = ["DescribeStage", "DescriptionPublisher", "attach_describe"]

_log = logging.getLogger(__name__)


class DescriptionPublisher:
    """Result callback: each :class:`DescribedText` result as an ``edge_sdk.caption/1`` message."""

    def __init__(self, publisher: MQTTSink, topic: str, device: str,
                 model_at: Callable[[int], Mapping[str, Any]]) -> None:
        # model_at(frame_index): the model that served the frame, which an update may have swapped in
        self._publisher, self.topic, self._device, self._model_at = publisher, topic, device, model_at
        self._lock = threading.Lock()
        self._seq = 0
        self.counts = {"published": 0, "failed": 0}
        self.last_text: str | None = None

    def __call__(self, result: Result) -> None:
        described = result.task_result
        if not isinstance(described, DescribedText):
            return
        from edge_sdk.errors import PublishError
        from edge_sdk.sinks.mqtt.payload import encode

        with self._lock:
            self._seq += 1
            seq = self._seq
        try:
            payload = encode(caption_payload(result, described, device=self._device, boot=self._publisher.boot,
                                             seq=seq, model=self._model_at(result.frame_index)))
        except ValueError:  # NaN log-probs: a broken decoder; counted, the stream goes on
            self.counts["failed"] += 1
            _log.exception("description seq %d is not JSON; not published", seq)
            return
        try:
            self._publisher.publish_durable(self.topic, payload, seq)
        except PublishError:  # the publisher is closing: the events copy went the same way
            self.counts["failed"] += 1
            _log.warning("description seq %d not taken: the publisher is closing", seq)
            return
        self.counts["published"] += 1
        self.last_text = described.text

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "topic": self.topic, "last_text": self.last_text}


class DescribeStage:
    """What :func:`attach_describe` set up: the gate and, with a broker, the description publisher."""

    def __init__(self, gate: DescribeGate, publisher: DescriptionPublisher | None, mode: str) -> None:
        self.gate, self.publisher, self.mode = gate, publisher, mode

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "gate": self.gate.stats()}
        if self.publisher is not None:
            out.update(self.publisher.stats())
        return out


def attach_describe(config: DescribeConfig, model: GenerateServing, pipeline: Pipeline, publisher: MQTTSink | None,
                    device: str) -> DescribeStage:
    """Gate the pipeline's frames by ``config``; with a broker, publish each description on its topic and
    add a ``describe`` section to the stats."""
    mode = model.mode
    gate = DescribeGate(config, on_text=mode == "translate")
    pipeline.add_frame_gate(gate)
    described: DescriptionPublisher | None = None
    if publisher is not None:
        topic = config.topic or ("translation" if mode == "translate" else "caption")
        described = DescriptionPublisher(publisher, f"{publisher.topics.base}/{topic}", device, pipeline.model_info_at)
        pipeline.on_result(described, name="describe")
    stage = DescribeStage(gate, described, mode)
    if publisher is not None:
        publisher.add_stats_section("describe", stage.stats)
    _log.info("describing frames (%s, beam %d): every %.1f s of frame time%s", mode, model.beam_size,
              config.every_s, f", on a change of {config.on_change}" if config.on_change else "")
    return stage
