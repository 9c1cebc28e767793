"""How ``edge-sdk run`` describes frames: the gate on the worker, the descriptions on their topic.

:func:`attach_describe` is the one call :mod:`edge_sdk.runtime` makes when it serves a generate
bundle (:class:`~edge_sdk.describe.serving.GenerateServing`). The search runs on the pipeline's worker
(it is the served model's "invoke"); each description is a pipeline result, so it takes the
pipeline's sink path (``edge_sdk.result/2`` on ``events``, through the outbox: at least once). Here a
result callback (the dispatcher's callback thread) also sends it as ``edge_sdk.caption/1`` on
``<prefix>/<device>/caption`` (or ``translation``), QoS 1, through the publisher's ``publish_raw``.

``publish_raw`` bypasses the outbox and drops while disconnected, so the callback waits up to
``_CONNECT_WAIT_S`` for a connection still being made (the first description of a run usually comes
before the broker's CONNACK), and keeps up to ``_BACKLOG`` descriptions it could not send (oldest
dropped, counted) to send ahead of the next one. What the outbox guarantees (a crash, a long outage)
holds for the ``events`` copy only; the caption topic gets it when the outbox routes by topic.
"""

from __future__ import annotations

import collections
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
_CONNECT_WAIT_S = 2.0
_BACKLOG = 32


class DescriptionPublisher:
    """Result callback: each :class:`DescribedText` result as an ``edge_sdk.caption/1`` message."""

    def __init__(self, publisher: MQTTSink, topic: str, device: str,
                 model_at: Callable[[int], Mapping[str, Any]]) -> None:
        # model_at(frame_index): the model that served the frame, which an update may have swapped in
        self._publisher, self.topic, self._device, self._model_at = publisher, topic, device, model_at
        self._lock = threading.Lock()
        self._seq = 0
        self.counts = {"published": 0, "sent_late": 0, "dropped_disconnected": 0, "failed": 0}
        self.last_text: str | None = None
        self._backlog: collections.deque[tuple[bytes, str]] = collections.deque()

    def __call__(self, result: Result) -> None:
        described = result.task_result
        if not isinstance(described, DescribedText):
            return
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
        if len(self._backlog) >= _BACKLOG:
            self._backlog.popleft()
            self.counts["dropped_disconnected"] += 1
        self._backlog.append((payload, described.text))
        self._send_backlog()

    def _send_backlog(self) -> None:
        """Oldest first, while connected; a connection being made is waited for once."""
        waited = False
        while self._backlog:
            if not self._connected():
                if waited or not self._wait_connected():
                    return
                waited = True
            payload, text = self._backlog[0]
            # False: the link dropped it (disconnected meanwhile); kept, sent again with the next one. The
            # delivery process may have sent it after all: (boot, seq) lets consumers drop the repeat
            if not self._publisher.publish_raw(self.topic, payload, qos=1):
                return
            self._backlog.popleft()
            self.counts["published"] += 1
            self.counts["sent_late"] += 1 if self._backlog or waited else 0
            self.last_text = text

    def _connected(self) -> bool:
        return bool(getattr(self._publisher, "connected", True))

    def _wait_connected(self) -> bool:
        from edge_sdk.errors import PublishError

        try:
            self._publisher.wait_connected(_CONNECT_WAIT_S)
        except PublishError:
            return False
        return True

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "backlog": len(self._backlog), "topic": self.topic, "last_text": self.last_text}


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
