"""The device side of an update, one announcement at a time, on a thread of its own.

announced → document verified (key, signature, expiry, version, compatibility) → downloaded into
staging → verified (size, SHA-256, the bundle's own manifest) → goldens passed in a second interpreter
→ shadow run on live frames → installed (fsync, rename; the old version is the rollback slot) →
swapped between two frames → health window → committed, or rolled back. Each step is a report on
``<device>/update``. A refusal changes nothing but the staging file; the serving model never stops.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

from edge_sdk.errors import EdgeSDKError
from edge_sdk.model import FusionModel
from edge_sdk.pipeline import Pipeline
from edge_sdk.update.boot import Boot
from edge_sdk.update.config import UpdateConfig
from edge_sdk.update.document import SignedUpdate, compat_of, document_path
from edge_sdk.update.errors import (
    DownloadError,
    HealthError,
    IncompatibleError,
    ManifestError,
    ShadowError,
    TruncatedError,
    UpdateError,
)
from edge_sdk.update.fetch import fetch_to
from edge_sdk.update.keys import load_public_keys
from edge_sdk.update.probe import probe_bundle
from edge_sdk.update.report import Reporter
from edge_sdk.update.shadow import ShadowRun
from edge_sdk.update.trial import TrialModel
from edge_sdk.update.verify import Verifier, file_sha256

__all__ = ["UpdateAgent"]

_log = logging.getLogger(__name__)
_STOP = object()
Loader = Callable[[str | Path], FusionModel]


class UpdateAgent:
    """Takes announcements (``handle_announcement``, or the ``cmd/model`` command) and applies them."""

    def __init__(self, config: UpdateConfig, pipeline: Pipeline, boot: Boot, load: Loader, *, device: str,
                 send: Callable[[str, bytes], object] | None = None, signature: str | None = None) -> None:
        self.config, self.pipeline, self.boot, self._load = config, pipeline, boot, load
        self.store = boot.store
        manifest = pipeline.model.manifest
        self.verifier = Verifier(load_public_keys(config.trusted_keys), manifest.model.name,
                                 compat_of(manifest, signature))
        slot = boot.choice.slot
        self._serving_version = slot.version if slot is not None else self._base_version(boot.base_path)
        self.reporter = Reporter(device, send, lambda: (self.verifier.model, self._serving_version))
        self.state = "idle"
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._closing = threading.Event()
        self._last_update_s: float | None = None
        self._chunks: Any = None  # the MQTT chunk receiver, when attached
        self._shadow_run: ShadowRun | None = None
        self._current_id: str | None = None
        self._current_version: int | None = None
        pipeline.add_frame_observer(self._offer)
        self._verdicts: dict[str, dict[str, Any]] = {}  # update id -> its final report, for repeated announcements
        self._thread = threading.Thread(target=self._run, name="edge_sdk-update", daemon=True)

    def start(self) -> Self:
        """Report the boot and take announcements (call once its command handlers are registered)."""
        choice = self.boot.choice
        self.reporter.step("boot", None, self.verifier.model, self._serving_version, code=(
            "crashed_on_trial" if choice.rolled_back else None), message=choice.rolled_back,
            on_trial=choice.on_trial, file=str(choice.path or self.boot.base_path))
        self._thread.start()
        return self

    # -- in -----------------------------------------------------------------------------------------
    def handle_announcement(self, payload: Any) -> None:
        """``{"id": ..., "document": {signed, signatures}, "url": path | file:// | http(s):// | "mqtt"}``.

        An announcement repeated after its verdict (a rollout re-announcing to a device that seemed
        silent) gets the same verdict again, never a second attempt."""
        update_id = str(payload.get("id", "")) if isinstance(payload, Mapping) else ""
        done = self._verdicts.get(update_id) if update_id else None
        if done is not None:
            self.reporter.resend(done)
            return
        try:
            self._queue.put_nowait(payload)
        except queue.Full:  # reject_new: the one waiting came first
            self.reporter.step("refused", update_id or None, None, None, code="busy",
                               message="another update is waiting; announce again when it has finished")

    def _offer(self, frame: Any, result: Any) -> None:
        shadow = self._shadow_run
        if shadow is not None:
            shadow.offer(frame, result)

    def attach_chunks(self, receiver: Any) -> None:
        self._chunks = receiver

    def stats(self) -> dict[str, Any]:
        return {"state": self.state, "serving": {"model": self.verifier.model, "version": self._serving_version},
                "floor": self.store.floor(self.verifier.model), "on_trial": self.store.state().on_trial,
                "last_update_s": self._last_update_s, **self.reporter.stats()}

    # -- the thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        if self.boot.choice.on_trial:
            self._resume_trial()
        while True:
            try:
                payload = self._queue.get(timeout=1.0)
            except queue.Empty:
                self.reporter.flush()  # what the broker could not take yet (the boot report, an outage)
                continue
            if payload is _STOP:
                return
            update_id = str(payload.get("id", "")) if isinstance(payload, Mapping) else ""
            if update_id and update_id in self._verdicts:
                self.reporter.resend(self._verdicts[update_id])
                continue
            try:
                self._apply(payload)
                final = self.reporter.find(update_id, ("committed", "refused", "rolled_back")) if update_id else None
                if final is not None:
                    self._verdicts[update_id] = final
            except Exception as exc:  # noqa: BLE001 - a bug here must not leave the thread dead and updates unanswered
                _log.exception("update failed unexpectedly")
                self.reporter.step("refused", update_id or None, self.verifier.model, None, code="update_error",
                                   message=f"{type(exc).__name__}: {exc}")
            finally:
                self.state = "idle"

    def _apply(self, payload: Any) -> None:
        started = time.monotonic()
        update_id = str(payload.get("id", "")) if isinstance(payload, Mapping) else None
        model, version = self.verifier.model, None
        part: Path | None = None
        candidate: FusionModel | None = None
        report = self.reporter.step
        report("announced", update_id, model, None)
        try:
            if not isinstance(payload, Mapping) or not isinstance(payload.get("url"), str):
                raise ManifestError(f"expected an announcement {{id, document, url}}. Got: {str(payload)[:120]}")
            self.state = "verifying"
            document = SignedUpdate.from_dict(payload.get("document"))
            info = self.verifier.check_document(document, max(self.store.floor(model), self._serving_version))
            version = info.version
            self._current_id, self._current_version = update_id, version
            report("document_verified", update_id, model, version, keyid=document.signatures[0]["keyid"])
            self.state = "downloading"
            part = self.store.staging_path(info.sha256)
            self.store.clear_staging(keep=part)
            t0 = time.monotonic()
            self._fetch(payload["url"], part, info.size, info.sha256)
            report("downloaded", update_id, model, version, bytes=info.size, seconds=round(time.monotonic() - t0, 3))
            self.verifier.check_file(info, part)
            report("verified", update_id, model, version, sha256=info.sha256)
            self.state = "checking"
            cfg = self.config
            passed = probe_bundle(part, timeout_s=cfg.probe_timeout_s)
            report("goldens_passed", update_id, model, version, golden=passed)
            candidate = self._load(part)
            self._check_serving_kind(candidate)
            if cfg.shadow_frames > 0:
                self.state = "shadow"
                self._shadow(candidate, update_id, version)
            self.state = "installing"
            slot = self.store.install(model, version, part, document.to_json(), info.sha256)
            part = None
            report("installed", update_id, model, version, file=slot.file)
        except UpdateError as exc:
            self._discard(part, exc, candidate)
            report("refused", update_id, model, version, error=exc)
            return
        except EdgeSDKError as exc:  # the candidate would not load here although its goldens passed
            self._discard(part, exc, candidate)
            report("refused", update_id, model, version, code="golden_failed", message=str(exc))
            return
        self._trial(candidate, update_id, version, started)

    def _check_serving_kind(self, candidate: FusionModel) -> None:
        from edge_sdk.describe.serving import serving_kind

        running, offered = serving_kind(self.pipeline.model), serving_kind(candidate)
        if offered != running:
            raise IncompatibleError(f"the bundle serves {offered!r}; this run serves {running!r}, and what it set up "
                                    "for that (the describe gate and its topic) stays until a restart: deploy it "
                                    "as model.path and restart instead")

    def _fetch(self, url: str, part: Path, size: int, sha256: str) -> None:
        if url == "mqtt":
            if self._chunks is None:
                raise DownloadError("the announcement says mqtt chunks but this device has no MQTT connection")
            self._chunks.receive(part, size, sha256, self.config.download_timeout_s, stop=self._closing,
                                 on_need=lambda offset:
                                 self.reporter.step("downloading", self._current_id, self.verifier.model,
                                                    self._current_version, offset=offset, bytes=size, via="mqtt"))
        else:
            fetch_to(url, part, size, timeout_s=self.config.download_timeout_s)

    def _shadow(self, candidate: FusionModel, update_id: str | None, version: int) -> None:
        self._shadow_run = shadow = ShadowRun(candidate)
        try:
            result = shadow.run(self.config.shadow_frames, self.config.health_timeout_s, stop=self._closing)
        finally:
            self._shadow_run = None
        self.reporter.step("shadow", update_id, self.verifier.model, version, **result.to_dict())
        if result.errors:
            raise ShadowError(f"the candidate failed {result.errors} of {result.frames + result.errors} live frames "
                              f"in shadow: {result.last_error}")
        if result.frames < self.config.shadow_frames:
            raise ShadowError(f"only {result.frames} of {self.config.shadow_frames} live frames reached the shadow "
                              f"run within {self.config.health_timeout_s:.0f} s")
        if result.agreement < self.config.shadow_min_agreement:
            raise ShadowError(f"the candidate agreed with the serving model on {result.agreement:.0%} of live frames; "
                              f"expected at least {self.config.shadow_min_agreement:.0%}")

    def _trial(self, candidate: FusionModel, update_id: str | None, version: int, started: float) -> None:
        self.state = "health"
        old = self.pipeline.model
        trial = TrialModel(candidate, old)
        self.pipeline.swap_model(trial)
        self._serving_version = version
        self.reporter.step("swapped", update_id, self.verifier.model, version)
        self._health(trial, update_id, version, started)

    def _resume_trial(self) -> None:
        """Started on a model still on trial: a new health window, the rollback slot as the safety net."""
        state = self.store.state()
        fallback_path = self.store.path_of(state.previous) if state.previous is not None else self.boot.base_path
        try:
            fallback = self._load(fallback_path)
        except EdgeSDKError as exc:
            _log.error("the rollback slot does not load (%s); committing the trial model that serves", exc)
            self.store.commit()
            return
        trial = TrialModel(self.pipeline.model, fallback)
        self.pipeline.swap_model(trial)
        self._health(trial, None, self._serving_version, time.monotonic())

    def _health(self, trial: TrialModel, update_id: str | None, version: int, started: float) -> None:
        cfg = self.config
        deadline = time.monotonic() + cfg.health_timeout_s
        try:
            while True:
                figures = trial.figures()
                if figures["errors"] > cfg.max_errors:
                    raise HealthError(f"the new model failed {figures['errors']} frames in its health window "
                                      f"(at most {cfg.max_errors}): {figures['last_error']}")
                if figures["served"] >= cfg.health_frames:
                    break
                if self._closing.is_set():
                    return  # shutting down mid-window: the trial stays open; the next start counts it
                if time.monotonic() > deadline:
                    raise HealthError(f"the new model served {figures['served']} of {cfg.health_frames} results "
                                      f"within {cfg.health_timeout_s:.0f} s")
                time.sleep(0.05)
            p95 = figures["latency_p95_ms"]
            if cfg.latency_budget_ms and p95 is not None and p95 > cfg.latency_budget_ms:
                raise HealthError(f"the new model's p95 latency is {p95:.1f} ms; the budget is "
                                  f"{cfg.latency_budget_ms:.1f} ms")
            current = self.store.state().current
            if current is not None:  # the installed file, re-read from disk, still passes its goldens
                self._recheck_goldens(self.store.path_of(current))
        except UpdateError as exc:
            self.store.rollback()
            self.pipeline.swap_model(trial.old)  # returns the trial wrapper: nothing of its own to close
            self._serving_version = self._version_serving_after_rollback()
            trial.new.close()
            self.reporter.step("rolled_back", update_id, self.verifier.model, version, error=exc, **figures)
            return
        self.store.commit()
        self.pipeline.swap_model(trial.new)
        trial.old.close()
        self._last_update_s = round(time.monotonic() - started, 3)
        self.reporter.step("committed", update_id, self.verifier.model, version, update_s=self._last_update_s,
                           **figures)

    @staticmethod
    def _recheck_goldens(path: Path) -> None:
        """On an interpreter of its own, in this process: the candidate already loaded here without harm."""
        try:
            FusionModel.from_bundle(path, verify_golden=True).close()
        except EdgeSDKError as exc:
            raise HealthError(f"the installed file fails its golden vectors: {exc}") from exc

    def _version_serving_after_rollback(self) -> int:
        current = self.store.state().current
        return current.version if current is not None else self._base_version(self.boot.base_path)

    def _discard(self, part: Path | None, exc: BaseException, candidate: FusionModel | None) -> None:
        if candidate is not None:
            candidate.close()
        # an interrupted download keeps its .part to resume; anything refused on its content goes
        if part is not None and (not isinstance(exc, DownloadError) or isinstance(exc, TruncatedError)):
            part.unlink(missing_ok=True)

    def _base_version(self, base_path: Path) -> int:
        """The configured model's version: from its signed document beside it, when that verifies."""
        doc_path = document_path(base_path)
        if not doc_path.is_file():
            return 0
        try:
            document = SignedUpdate.from_file(doc_path)
            document.verify_signature(self.verifier.trusted)
            info = document.info
            return info.version if file_sha256(base_path) == info.sha256 else 0
        except UpdateError as exc:
            _log.warning("the configured model's update document %s does not verify (%s): version 0", doc_path, exc)
            return 0

    # -- ownership ------------------------------------------------------------------------------------
    def close(self, timeout_s: float = 10.0) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
