"""Assemble and run the whole device runtime from a :class:`~edge_sdk.config.DeviceConfig`.

    with Runtime(load_config("device.yaml")) as runtime:
        stats = runtime.run()

Owns, and closes in reverse order of opening: the embedded broker (when no broker is configured),
the serial link and its action controller, the sinks, and the pipeline with its model and sources.
SIGINT and SIGTERM end the run cleanly when :meth:`run` is called from the main thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from edge_sdk.bundle import Manifest, SignatureSpec
from edge_sdk.clock import from_wall_s, now_s
from edge_sdk.config import DeviceConfig
from edge_sdk.describe.config import DescribeConfig
from edge_sdk.errors import ConfigError, MissingDependencyError
from edge_sdk.model import FusionModel
from edge_sdk.pipeline import Pipeline, Result
from edge_sdk.pipeline.signals import stop_on_signals
from edge_sdk.sinks.base import MQTTSink, ResultSink
from edge_sdk.sinks.mqtt.config import MQTTConfig
from edge_sdk.sources.trace import FirstFrameClock

if TYPE_CHECKING:
    from edge_sdk.describe.wiring import DescribeStage
    from edge_sdk.index.stage import IndexStage
    from edge_sdk.sinks.mqtt.broker import EmbeddedBroker
    from edge_sdk.sinks.mqtt.process import DeliveryChild
    from edge_sdk.sources.frame import Frame
    from edge_sdk.sources.sensor import SensorSlot
    from edge_sdk.update.agent import UpdateAgent
    from firmware_bridge import ActionController, BridgeLink

__all__ = ["Runtime", "default_bundle_path"]

_log = logging.getLogger(__name__)


def default_bundle_path() -> Path:
    """The seek int8 bundle shipped inside the package (rebuilt by ``make seek-bundle``); ``model.path: seek``."""
    from edge_sdk.bundle.io import shipped_bundle_path

    return shipped_bundle_path("seek")


class Runtime:
    def __init__(self, config: DeviceConfig, *, on_result: Callable[[Result], Any] | None = None) -> None:
        self.config = config
        self._stack = contextlib.ExitStack()
        self.broker: EmbeddedBroker | None = None
        self.publisher: MQTTSink | None = None  # MQTTPublisher or PublisherProcess
        self._delivery_child: DeliveryChild | None = None  # a delivery process spawned ahead of its configuration
        self.link: BridgeLink | None = None
        self.actions: ActionController | None = None
        self.pipeline: Pipeline | None = None
        self.index_stage: IndexStage | None = None
        self.describe: DescribeStage | None = None  # with a generate bundle: captions or translations
        self.updates: UpdateAgent | None = None  # over-the-air model updates, with an update section
        self._on_result = on_result
        self._closed = False
        self._built_s = 0.0
        try:
            self._build()
        except BaseException:
            self._stack.close()
            raise

    # -- assembly -------------------------------------------------------------------------------
    def _build(self) -> None:
        config = self.config
        started = now_s()
        wants_mqtt = config.mqtt is not None or config.embedded_broker.enabled
        delivery = config.mqtt or MQTTConfig(device_id=config.device)
        if wants_mqtt and delivery.delivery_in_process:
            from edge_sdk.sinks.mqtt.process import PublisherProcess

            # its interpreter starts while the model loads; configured in _start_publisher
            self._delivery_child = PublisherProcess.spawn()
            self._stack.callback(self._close_unused_child)
        capture_child = None
        if config.camera.capture_in_process:
            from edge_sdk.pipeline.capture_process import CaptureChild

            # the capture process imports OpenCV while the model loads; it opens the source below
            capture_child = CaptureChild.spawn()
            self._stack.callback(capture_child.close)  # idempotent: the source closes it first
        model_path = config.model.path or default_bundle_path()  # a file, or a shipped bundle's name

        def load(path: str | Path) -> FusionModel:
            from edge_sdk.bundle import read_bundle
            from edge_sdk.describe.serving import GenerateServing, is_generate_bundle

            bundle = read_bundle(path)
            if not config.model.signature and is_generate_bundle(bundle):  # captions or translations, searched
                describe = config.describe or DescribeConfig()
                return GenerateServing.open(bundle, num_threads=config.model.num_threads, runtime=config.model.runtime,
                                            verify_golden=config.model.verify_golden, beam_size=describe.beam_size,
                                            max_length=describe.max_length)
            model = FusionModel.from_bundle(
                bundle, num_threads=config.model.num_threads, runtime=config.model.runtime,
                verify_golden=config.model.verify_golden, signature=config.model.signature,
                xnnpack=config.model.xnnpack,
            )
            if model.task.kind == "generate":  # one frame's invoke of a decoder step means nothing alone
                model.close()
                raise ConfigError(f"model {path}: signature {model.signature.key!r} is a decoder step (task "
                                  f"'generate'); it runs under a search over its "
                                  f"{model.task.options.encode_signature!r} signature, not once per frame. "
                                  f"Expected a bundle whose served signature has a per-frame task, or no "
                                  f"model.signature: a generate bundle then describes frames (describe section)")
            return model

        model_boot = None  # which installed update serves, when updates are on
        if config.update is not None:  # an installed update serves instead of the configured model
            from edge_sdk.update.boot import load_serving_model

            model, model_boot = load_serving_model(config.update, model_path, load)
        else:
            model = load(model_path)
        self._stack.callback(model.close)
        check_inputs_have_sources(model.manifest, config, model.signature)
        from edge_sdk.pipeline.capture_process import open_capture_source
        from edge_sdk.sources import open_sensor_source, open_text_source

        frames = open_capture_source(config.camera, child=capture_child)
        self._stack.callback(frames.close)
        # every_frame: replays follow the video's clock; realtime: the wall's, from the first frame (a stream
        # that takes seconds to open must not start the traces early); text and sensor traces share it
        replay_clock = frames.media_clock or FirstFrameClock()
        wall_replay = replay_clock if isinstance(replay_clock, FirstFrameClock) else None
        if wall_replay is not None:  # a looping file replays its traces on each pass (the media clock is told itself)
            frames.on_pass(wall_replay.new_pass)
        text = open_text_source(config.text, replay_clock)
        sensor = open_sensor_source(config.sensor, replay_clock)
        self.text_slot, self.sensor_slot = text, sensor
        for slot in (text, sensor):
            if slot is not None:
                self._stack.callback(slot.close)

        sinks: list[ResultSink] = []
        if wants_mqtt:
            self.publisher = publisher = self._start_publisher()
            sinks.append(publisher)
            if config.text.source == "mqtt" and text is not None:
                publisher.on_command("text", lambda payload: text.set_from_payload(payload), payload_format="text")
            if config.sensor.source == "mqtt" and sensor is not None:
                publisher.on_command("sensor", lambda payload: sensor.update_from_json(payload), payload_format="text")
        if config.output.stdout_jsonl:
            from edge_sdk.sinks.jsonl import JSONLinesSink

            # the publisher's boot: the lines and the MQTT messages of a result carry the same (boot, seq)
            boot = self.publisher.boot if self.publisher is not None else None
            sinks.append(JSONLinesSink(config.device, boot=boot).start())

        if self.publisher is not None:
            from edge_sdk.sinks.mqtt.homeassistant import TaskInfo

            # entities that fit the results: a detector's counts, a classifier's decision
            self.publisher.announce_homeassistant(task=TaskInfo(model.task.kind, model.task.labels))
        if config.bridge is not None:
            self._start_bridge(sensor)

        from edge_sdk.deploy.sdnotify import Watchdog

        self.watchdog = Watchdog.from_environment()
        self._stack.callback(self.watchdog.close)
        from edge_sdk.index.wiring import attach_index

        self.index_stage = attach_index(config, model, self.publisher, self._stack)  # None without an index section
        self.pipeline = Pipeline(
            model, frames, text=text, sensor=sensor, config=config.pipeline, align=config.align,
            sinks=sinks, on_progress=self._progress, on_frame=self._snapshot_hook(),
            on_first_frame=None if wall_replay is None else lambda frame: wall_replay.start(frame.timestamp_s),
        )
        self._stack.callback(self.pipeline.close)
        if self.index_stage is not None:  # after the snapshot hook, on the same frames: the camera opens once
            self.pipeline.add_frame_observer(self.index_stage.offer)
        from edge_sdk.describe.serving import GenerateServing

        if isinstance(model, GenerateServing):  # the gate and the caption (or translation) topic
            from edge_sdk.describe.wiring import attach_describe

            self.describe = attach_describe(config.describe or DescribeConfig(), model, self.pipeline, self.publisher,
                                            config.device)
        if self.actions is not None:
            actions = self.actions
            # the frame's wall time lets the controller ignore results that are already stale
            self.pipeline.on_result(lambda r: actions.on_result(r.label or "", r.confidence, r.frame_ts),
                                    name="actions")
        if self._on_result is not None:
            self.pipeline.on_result(self._on_result, name="user")
        if config.update is not None and model_boot is not None:
            from edge_sdk.update.attach import attach_updates

            self.updates = attach_updates(config.update, self.pipeline, model_boot, load, config.device, self.publisher,
                                          signature=config.model.signature)
            self._stack.callback(self.updates.close)
        self._built_s = started

    def _close_unused_child(self) -> None:
        if self._delivery_child is not None:  # building failed before the publisher was configured
            self._delivery_child.close()
            self._delivery_child = None

    def _start_publisher(self) -> MQTTSink:
        from edge_sdk.sinks.mqtt.process import PublisherProcess
        from edge_sdk.sinks.mqtt.publisher import MQTTPublisher

        mqtt = self.config.mqtt
        if mqtt is None:
            from edge_sdk.sinks.mqtt.broker import EmbeddedBroker

            settings = self.config.embedded_broker
            self.broker = broker = EmbeddedBroker(port=settings.port, ws_port=settings.ws_port).start()
            self._stack.callback(broker.stop)
            _log.warning(
                "no mqtt section: results go to the embedded broker at mqtt://127.0.0.1:%d; "
                "point deployments at Mosquitto or EMQX", broker.port,
            )
            mqtt = MQTTConfig(device_id=self.config.device, **broker.mqtt_overrides())
        child, self._delivery_child = self._delivery_child, None
        if child is not None or mqtt.delivery_in_process:
            publisher: MQTTSink = PublisherProcess(mqtt, child=child).start()
        else:
            publisher = MQTTPublisher(mqtt).start()
        # the pipeline closes its sinks in order; this is the safety net if building fails later
        self._stack.callback(publisher.close)
        return publisher

    def _snapshot_hook(self) -> Callable[[Frame, Result], Any] | None:
        """Thumbnails for the dashboard: rate-limited, encoded only when one is due."""
        output, publisher = self.config.output, self.publisher
        if publisher is None or output.snapshot_hz <= 0:
            return None
        from edge_sdk.dashboard.snapshot import SnapshotPublisher

        snapshots = SnapshotPublisher(lambda topic, payload: publisher.publish_raw(topic, payload, retain=True),
                                      f"{publisher.topics.base}/snapshot", max_rate_hz=output.snapshot_hz,
                                      width_px=output.snapshot_width_px)
        mask_topic, min_interval_s = f"{publisher.topics.base}/snapshot/mask", 1.0 / output.snapshot_hz
        next_mask_s = [float("-inf")]

        def offer(frame: Frame, result: Result) -> None:
            snapshots.offer(frame.pixels, frame.color_order)
            png = getattr(result.task_result, "png", None)  # a segmenter's mask, when its task asks for one
            if png is not None and now_s() >= next_mask_s[0]:
                next_mask_s[0] = now_s() + min_interval_s
                publisher.publish_raw(mask_topic, png, retain=True)

        return offer

    def _start_bridge(self, sensor: SensorSlot | None) -> None:
        from firmware_bridge import ActionController, BridgeLink
        from firmware_bridge.errors import MissingDependencyError as BridgeMissingDependency

        assert self.config.bridge is not None
        url, link_config = self.config.bridge.url, self.config.bridge.link
        on_reading = None
        if sensor is not None and self.config.sensor.source == "bridge":
            # the bridge stamps readings in wall time (MCU clock mapped to the host); slots use the runtime clock
            on_reading = lambda reading: sensor.update(reading.values, from_wall_s(reading.timestamp_s))
        try:
            link = self.link = BridgeLink.open(url, link_config, on_reading=on_reading)
        except BridgeMissingDependency as exc:  # no pyserial: the one-line message, exit 2
            raise MissingDependencyError(str(exc)) from exc
        except OSError as exc:
            from edge_sdk.errors import SourceError

            raise SourceError(f"bridge: cannot open {url}: {exc}") from exc
        self._stack.callback(link.close)
        actions = None
        if self.config.actions is not None:
            actions = self.actions = ActionController(link, self.config.actions)
            self._stack.callback(actions.close)
        if self.publisher is not None:
            from edge_sdk.sinks.mqtt.homeassistant import McuInfo

            if link.device is not None:
                self.publisher.announce_homeassistant(mcu=McuInfo.from_hello(link.device))  # the task stays
            self.publisher.add_stats_section("bridge", lambda: _as_dict(link.stats()))
            if actions is not None:
                self.publisher.add_stats_section("actions", lambda: _as_dict(actions.stats()))

    def _progress(self) -> None:
        pipeline = self.pipeline
        self.watchdog.kick(lambda: f"results={pipeline.stats()['results'] if pipeline else 0}")

    @property
    def first_result_s(self) -> float | None:
        """Seconds from the start of building the runtime to its first result; None before it."""
        at_s = self.pipeline.first_result_at_s if self.pipeline is not None else None
        return None if at_s is None else at_s - self._built_s

    # -- running --------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        assert self.pipeline is not None
        from edge_sdk.deploy import sdnotify

        with stop_on_signals(self.pipeline.stop):
            sdnotify.ready(f"running model {self.pipeline.model.manifest.model.name}")
            try:
                stats = self.pipeline.run()
            finally:
                sdnotify.stopping()
        return self.summary(stats)

    def summary(self, stats: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.pipeline is not None
        out = dict(stats or self.pipeline.stats())
        if self.first_result_s is not None:
            out["first_result_s"] = round(self.first_result_s, 3)
        out["sinks"] = self.pipeline.sink_stats()  # each sink's own counters, whatever it counts
        if self.publisher is not None:
            out["mqtt"] = self.publisher.stats()
        if self.link is not None:
            out["bridge"] = _as_dict(self.link.stats())
        if self.actions is not None:
            out["actions"] = _as_dict(self.actions.stats())
        if self.index_stage is not None:
            out["index"] = self.index_stage.stats()
        if self.updates is not None:
            out["update"] = self.updates.stats()
        if self.describe is not None:
            out["describe"] = self.describe.stats()
        return out

    def stop(self) -> None:
        if self.pipeline is not None:
            self.pipeline.stop()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_dict(stats: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return dataclasses.asdict(stats)
    return dict(stats)


_SOURCE_ADVICE = {
    "text": "set text.source to fixed (with text.prompt), stdin, file or mqtt",
    "sensor": "set sensor.source to stdin, file, mqtt or bridge",
    "tensor": "edge-sdk run has no source for tensor inputs yet; feed them through the Python API "
              "(Model.predict(tensors={name: values}))",
}


def check_inputs_have_sources(manifest: Manifest, config: DeviceConfig, served: SignatureSpec | None = None) -> None:
    """Every input of the ``served`` signature (default: the configured one) needs a configured source, or every
    frame would be skipped as incomplete."""
    configured = {"image": True, "text": config.text.source != "none", "sensor": config.sensor.source != "none",
                  "tensor": False}
    if served is None:
        served = manifest.signature(config.model.signature) if config.model.signature else manifest.primary
    inputs = served.inputs
    missing = [spec for spec in inputs if not configured.get(spec.role, True)]
    if missing:
        raise ConfigError("; ".join(
            f"{spec.role}.source: the model {manifest.model.name!r} takes a {spec.role} input ({spec.name!r}) "
            f"that the config gives no source: {_SOURCE_ADVICE[spec.role]}" for spec in missing))
    roles = {spec.role for spec in inputs}
    for role in ("text", "sensor"):
        if configured[role] and role not in roles:
            _log.warning("%s.source is set but the model %r takes no %s input: it is ignored",
                         role, manifest.model.name, role)


def check_config(config: DeviceConfig) -> None:
    """Checks that need the file system, beyond the config's own validation."""
    from edge_sdk.bundle.io import SHIPPED

    path = config.model.path
    if path and path not in SHIPPED and not Path(path).is_file():
        raise ConfigError(f"model.path: bundle not found: {path}. Expected a bundle file, or the name of one "
                          f"shipped with edge_sdk ({', '.join(SHIPPED)})")
