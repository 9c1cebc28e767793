"""The fused inference pipeline: capture → align → preprocess → invoke → decode → dispatch.

Threads only at I/O boundaries::

    capture thread ──▶ latest-frame slot (drop oldest, counted) or blocking slot (every frame)
    inference worker (the thread that calls run(); owns the interpreter)
    sink thread: batches to the sinks (bounded, block: never drops an accepted result)
    callback thread: callbacks, actions (bounded: drop_oldest for live sources, block for
                     every_frame playback; drops counted)
    sinks' own threads or process (the MQTT delivery process, see edge_sdk.sinks.mqtt.process)

``close()`` shuts down in a fixed order: stop capture, finish the worker, drain the dispatcher,
close the sinks (so the publisher can flush and say ``stopped``), close the model. A stage that
fails stops the run and its error is raised from :meth:`run` as a :class:`PipelineError`.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Self

from edge_sdk.clock import now_s, to_wall_s, wall_s
from edge_sdk.errors import InputError, PipelineError, SourceError
from edge_sdk.model import FusionModel
from edge_sdk.pipeline.ahead import PrepareAhead, prepare_ahead_enabled, prepare_inputs
from edge_sdk.pipeline.align import AlignedInputs, Aligner
from edge_sdk.pipeline.capture import CaptureThread
from edge_sdk.pipeline.config import PipelineConfig
from edge_sdk.pipeline.dispatcher import Dispatcher, ResultCallback
from edge_sdk.pipeline.fanout import SinkFanout
from edge_sdk.pipeline.incomplete import IncompleteWarner
from edge_sdk.pipeline.result import Result
from edge_sdk.pipeline.signals import stop_on_signals
from edge_sdk.pipeline.stats import RateMeter, StageTimes
from edge_sdk.pipeline.swap import ModelSwap
from edge_sdk.sinks.base import ResultSink
from edge_sdk.sources.base import FrameSource
from edge_sdk.sources.config import AlignConfig, RunningMode
from edge_sdk.sources.frame import Frame
from edge_sdk.sources.sensor import SensorSlot
from edge_sdk.sources.text import TextSlot

__all__ = ["Pipeline", "PipelineState", "ResultSink"]

_log = logging.getLogger(__name__)
_STAGES = ("capture", "wait", "preprocess", "invoke", "post", "publish", "total")


class PipelineState(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"  # run() returned; sinks closed
    CLOSED = "closed"  # the model is released too


class Pipeline:
    """Runs a :class:`FusionModel` on frames with text and sensor inputs; see the module docstring.

    >>> text, sensor = TextSlot("text"), SensorSlot("sensor", max_age_s=None)  # a fixed reading
    >>> text.set("find the red circle")
    >>> sensor.update({"distance_cm": 80.0})
    >>> labels = []
    >>> with Pipeline(model, open_frame_source("file://clip.mp4"), text=text, sensor=sensor,
    ...               sinks=[publisher]) as pipeline:
    ...     pipeline.on_result(lambda r: labels.append(r.label))
    ...     stats = pipeline.run()
    >>> stats["results"] == stats["published"] == len(labels)
    True
    """

    def __init__(
        self,
        model: FusionModel,
        frames: FrameSource,
        *,
        text: TextSlot | None = None,
        sensor: SensorSlot | None = None,
        config: PipelineConfig | None = None,
        align: AlignConfig | None = None,
        sinks: Sequence[ResultSink] = (),
        on_progress: Callable[[], object] | None = None,
        on_frame: Callable[[Frame, Result], object] | None = None,
        on_first_frame: Callable[[Frame], object] | None = None,
    ) -> None:
        """``on_first_frame(frame)``: on the capture thread, before the first frame goes on (a replay
        clock starts there)."""
        self._models = ModelSwap(model)
        self._on_progress = on_progress  # per frame taken, e.g. the systemd watchdog
        self._on_frame = on_frame  # per result, on the worker, with the frame (snapshots)
        self.config = config or PipelineConfig()
        self.times = StageTimes(_STAGES)
        self._source = frames
        every_frame = frames.mode is RunningMode.EVERY_FRAME  # one running mode for the run: camera.playback
        self._capture = CaptureThread.for_source(frames, on_first_frame=on_first_frame, prepare=(
            PrepareAhead(self._models, frames) if prepare_ahead_enabled(self.config) else None))
        self._aligner = Aligner(text, sensor, align)
        self._needs_text = "text" in model.roles
        self._needs_sensor = "sensor" in model.roles
        self._incomplete = IncompleteWarner(self._aligner, needs_text=self._needs_text, needs_sensor=self._needs_sensor)
        self._sinks = list(sinks)
        self._fanout = SinkFanout(self._sinks)

        def payload_of(result: Result) -> dict[str, Any] | None:
            try:
                return result.to_payload(self._models.info_at(result.frame_index))
            except InputError as exc:  # a task result holding NaN: refused and counted, the stream goes on
                self._fanout.refuse(result.frame_index, str(exc))
                return None

        self._dispatcher = Dispatcher(self.config.dispatch_queue, self.times, payload_of, block_when_full=every_frame)
        if self._fanout:
            self._dispatcher.add_publisher(self._fanout.publish)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = PipelineState.CREATED
        self._results = RateMeter()
        self.skipped_incomplete = 0
        self.skipped_max_fps = 0  # frames taken but passed over to keep under pipeline.max_fps
        self.last_result: Result | None = None
        self.first_result_at_s: float | None = None  # now_s() of the first result, set on the worker (no callback)
        self._last_published: Result | None = None
        self._error: BaseException | None = None
        self._observers: list[Callable[[Frame, Result], object]] = []  # per result, on the worker (updates)
        self._gates: list[Callable[[AlignedInputs], bool]] = []  # per complete frame, on the worker
        self.skipped_gated = 0  # frames a gate passed over (a captioner's rate)

    # -- public API -----------------------------------------------------------------------------
    def on_result(self, callback: ResultCallback, name: str | None = None) -> None:
        """Call ``callback(result)`` on the dispatcher thread for every result."""
        self._dispatcher.add_callback(callback, name)

    def add_frame_observer(self, callback: Callable[[Frame, Result], object]) -> None:
        """Call ``callback(frame, result)`` on the worker after each result; it must return at once
        (hand the frame to a thread of its own). Its exceptions are logged, never stop the run."""
        self._observers.append(callback)

    def add_frame_gate(self, gate: Callable[[AlignedInputs], bool]) -> None:
        """On the worker, per frame with complete inputs: the model sees it only if ``gate(inputs)``."""
        self._gates.append(gate)

    @property
    def model(self) -> FusionModel:
        """The model serving the next frame."""
        return self._models.current

    def model_info_at(self, frame_index: int) -> dict[str, Any]:  # the payload's model block: a swap changes it
        return self._models.info_at(frame_index)

    def swap_model(self, model: FusionModel, timeout_s: float = 10.0) -> FusionModel:
        """Serve ``model`` from the next frame on, without stopping the run; returns the model it replaced
        (the caller closes it). The worker swaps between two frames, so no frame goes without a result."""
        with self._lock:
            if self._state is not PipelineState.RUNNING:
                return self._models.replace_now(model)
            done, replaced = self._models.offer(model)
        if not done.wait(timeout_s):
            if self._models.withdraw(model):
                raise PipelineError(f"the worker took no frame within {timeout_s:.1f} s: model not swapped")
            done.wait()  # taken just now
        return replaced[0]

    @property
    def published(self) -> int:
        """Results every sink accepted (counted on the sink thread, not when queued)."""
        return self._dispatcher.published

    @property
    def state(self) -> PipelineState:
        return self._state

    def stop(self) -> None:
        """Ask the run to end (safe from signal handlers and other threads)."""
        self._stop.set()

    def run(self) -> dict[str, Any]:
        """Run until end of stream, :meth:`stop`, ``max_frames``, SIGINT/SIGTERM or a failure; returns :meth:`stats`.

        The calling thread becomes the inference worker. On the main thread, Ctrl-C and SIGTERM stop
        the run cleanly (see :mod:`edge_sdk.pipeline.signals`).
        """
        with self._lock:
            if self._state is not PipelineState.CREATED:
                raise PipelineError(f"run() can be called once. State: {self._state.value}")
            self._state = PipelineState.RUNNING
        self._results = RateMeter()
        self._dispatcher.start()
        self._capture.start()
        try:
            with stop_on_signals(self.stop):  # Ctrl-C ends the run, flushed, instead of a traceback
                self._work()
        except (SourceError, InputError) as exc:  # a stage failed: reported below as PipelineError
            self._error = exc
        finally:
            self._shutdown_stages()
        error = self._error or self._capture.error or self._dispatcher.error
        if error is not None:
            raise PipelineError(f"pipeline stopped: {error}") from error
        self._fanout.check_published(self._dispatcher.handed, self.published)  # all refused: the run failed
        return self.stats()

    def stats(self) -> dict[str, Any]:
        capture, dispatcher = self._source.stats(), self._dispatcher
        return {
            "state": self._state.value,
            "results": self._results.count,
            "published": self.published,
            "fps": round(self._results.rate(), 2),
            "fps_recent": round(self._results.recent_rate(), 2),
            "stages": self.times.summary(),
            "drops": {
                "frames": self._capture.slot.drops,
                "dispatch": self._dispatcher.dropped + self._dispatcher.sink_dropped,
                "callbacks": self._dispatcher.dropped,
                "sinks": self._dispatcher.sink_dropped,
                "incomplete_inputs": self.skipped_incomplete,
                "max_fps": self.skipped_max_fps,
                "gated": self.skipped_gated,
                "paced": capture.frames_skipped,  # realtime playback passed over them: never read
                "unencodable": self._fanout.unencodable,  # not JSON (NaN): given to no sink
            },
            "sinks": self._sink_counts(),
            "queues": {"frames": self._capture.slot.depth(), "dispatch": dispatcher.depth(),
                       "dispatch_policy": dispatcher.policy, "dispatch_blocked_s": round(dispatcher.blocked_s, 3),
                       "sinks": dispatcher.sink_depth(), "sinks_policy": dispatcher.sink_policy,
                       "sinks_blocked_s": round(dispatcher.sink_blocked_s, 3),
                       "sinks_lingered": dispatcher.sink_lingered},
            "capture": {"frames_read": capture.frames_read, "frames_skipped": capture.frames_skipped,
                        "read_failures": capture.read_failures, "reconnects": capture.reconnects},
            "align": self._aligner.stats(),
            "inputs": {"text": None if self._aligner.text is None else self._aligner.text.stats(),
                       "sensor": None if self._aligner.sensor is None else self._aligner.sensor.stats()},
            "callback_errors": self._dispatcher.callback_errors,
        }

    def _sink_counts(self) -> dict[str, dict[str, Any]]:
        """Per sink: what it accepted, and its own stats unless it adds them to its stats messages
        itself (an MQTT sink's ``mqtt`` section: asking it here would be a round trip to its process)."""
        counts = self._fanout.counts()
        for name, sink in self._fanout.sinks:
            own = getattr(sink, "stats", None)
            if not hasattr(sink, "add_stats_section") and callable(own):
                try:
                    counts[name] = {**counts[name], **dict(own())}
                except Exception:  # noqa: BLE001 - stats are best effort
                    _log.debug("stats of sink %s failed", name, exc_info=True)
        return counts

    def sink_stats(self) -> dict[str, dict[str, Any]]:
        """Each sink's own ``stats()``, whatever keys it returns, with ``accepted``: for the run's summary."""
        return self._fanout.stats()

    def close(self) -> None:
        """Stop everything in order and release the model; idempotent."""
        self.stop()
        if self._state is PipelineState.CREATED:
            self._shutdown_stages()
        if self._state is not PipelineState.CLOSED:
            self._state = PipelineState.CLOSED
            self.model.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the inference worker -------------------------------------------------------------------
    def _work(self) -> None:
        model, aligner, times, config = self.model, self._aligner, self.times, self.config
        slot, dispatcher = self._capture.slot, self._dispatcher
        min_interval_s = 1.0 / config.max_fps if config.max_fps > 0 else 0.0
        next_due_s = 0.0
        stats_due_s = now_s() + config.stats_interval_s if config.stats_interval_s > 0 else float("inf")
        stop = self._stop
        while not stop.is_set():
            frame = slot.get(timeout_s=0.25)
            if self._models.pending:  # between two frames: this one is served by the new model
                following = self.last_result.frame_index + 1 if self.last_result is not None else 0
                model = self._models.take(frame.index if frame is not None else following)
            if frame is None:
                if slot.closed:
                    return  # end of stream (or the capture error, raised by get)
                continue
            if dispatcher.error is not None:
                return
            # per frame, not per result: a stalled camera or a hung invoke stops the kicks, while a
            # device waiting for its first prompt (frames skipped) is still alive
            if self._on_progress is not None:
                self._on_progress()
            picked_s = now_s()
            if picked_s >= stats_due_s:
                stats_due_s = picked_s + config.stats_interval_s
                self._publish_stats()
            if min_interval_s and picked_s < next_due_s:
                self.skipped_max_fps += 1
                continue  # over max_fps: skip this frame, the next fresh one will do
            next_due_s = picked_s + min_interval_s
            inputs = aligner.align(frame)
            if (self._needs_text and inputs.text is None) or (self._needs_sensor and inputs.sensor is None):
                self.skipped_incomplete += 1
                self._incomplete.skipped(frame, text=self._needs_text and inputs.text is None,
                                         sensor=self._needs_sensor and inputs.sensor is None)
                if not config.skip_incomplete:
                    missing = "text" if self._needs_text and inputs.text is None else "sensor"
                    raise InputError(f"frame {frame.index} has no fresh {missing} input (skip_incomplete is off)")
                continue
            if self._gates and not all(gate(inputs) for gate in self._gates):
                self.skipped_gated += 1
                continue
            t0 = time.perf_counter()
            tensors, ahead_ms = prepare_inputs(model, frame, inputs)  # the image input may come made
            t1 = time.perf_counter()
            outputs = model.infer(tensors)
            t2 = time.perf_counter()
            prediction = model.decode(outputs)
            t3 = time.perf_counter()
            timing = {
                "capture": frame.read_ms,
                "wait": (picked_s - frame.capture_instant_s) * 1000.0,
                "preprocess": (t1 - t0) * 1000.0 + ahead_ms,
                "invoke": (t2 - t1) * 1000.0,
                "post": (t3 - t2) * 1000.0,
            }
            for stage, ms in timing.items():
                times.record(stage, ms)
            result = Result(
                ts=wall_s(),
                label=prediction.label,
                confidence=prediction.confidence,
                scores=prediction.scores,
                frame_ts=frame.wall_time_s,
                frame_index=frame.index,
                text=inputs.text,
                text_ts=to_wall_s(inputs.text_ts) if inputs.text_ts is not None else None,
                sensor=inputs.sensor,
                sensor_ts=to_wall_s(inputs.sensor_ts) if inputs.sensor_ts is not None else None,
                skew_ms=inputs.skew_ms,
                timing_ms=timing,
                media_t_s=frame.media_t_s,
                task_result=prediction.result,
            )
            publish = self._should_publish(result)
            if publish:
                self._last_published = result
            dispatcher.submit(result, publish)
            if self._on_frame is not None:
                self._on_frame(frame, result)
            for observer in self._observers:
                try:
                    observer(frame, result)
                except Exception:  # noqa: BLE001 - an observer (shadow run, health window) never stops the stream
                    _log.exception("frame observer %r failed", observer)
            self.last_result = result
            self._results.tick()
            if self.first_result_at_s is None:
                self.first_result_at_s = now_s()
            times.record("total", (time.perf_counter() - t0) * 1000.0 + timing["wait"])
            if config.max_frames and self._results.count >= config.max_frames:
                return

    def _publish_stats(self) -> None:
        """Stats go out at QoS 0 and never block; a sink that cannot take them is logged, not fatal."""
        stats = self.stats()
        for sink in self._sinks:
            try:
                sink.publish_stats(stats)
            except Exception:  # noqa: BLE001 - stats are best effort; results are what must not be lost
                _log.warning("publishing stats failed", exc_info=True)

    def _should_publish(self, result: Result) -> bool:
        config = self.config
        if config.publish == "every":
            return self._results.count % config.every_n == 0
        last = self._last_published
        return (
            last is None
            or last.label != result.label
            or last.text != result.text
            or abs(last.confidence - result.confidence) >= config.change_confidence_delta
        )

    def _shutdown_stages(self) -> None:
        self._stop.set()
        self._capture.stop()
        self._dispatcher.close()
        for sink in self._sinks:
            try:
                sink.publish_stats(self.stats())
            except Exception:  # noqa: BLE001 - stats at exit are best effort; the results matter
                _log.debug("final stats publish failed", exc_info=True)
            try:
                sink.close()
            except Exception:  # noqa: BLE001 - one sink failing to close must not keep the others open
                _log.exception("closing sink %r failed", sink)
        if self._state is PipelineState.RUNNING:
            self._state = PipelineState.STOPPED
