"""Options of over-the-air model updates: the ``update:`` section of the device config."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_sdk.configtools import bounds, check_bounds

__all__ = ["UpdateConfig"]


@dataclass(frozen=True)
class UpdateConfig:
    store_dir: str = field(metadata={
        "help": "the model store: installed versions, the rollback slot, the version counter, downloads in progress "
                "(keep it on persistent storage)", "example": "update: {store_dir: /var/lib/edge-sdk/models}"})
    trusted_keys: tuple[str, ...] = field(default=(), metadata={
        "help": "public key files (.pub from `edge-sdk keygen`) whose signatures this device accepts; none: every "
                "update is refused"})
    shadow_frames: int = field(default=20, metadata={
        **bounds(ge=0), "help": "live frames the candidate runs on in shadow (compared, timed, not published) "
                                "before the swap; 0: no shadow run"})
    shadow_min_agreement: float = field(default=0.0, metadata={
        **bounds(ge=0.0, le=1.0), "help": "share of shadow frames whose label must equal the current model's"})
    health_frames: int = field(default=20, metadata={
        **bounds(ge=1), "help": "results the new model must serve after the swap before it is committed"})
    health_timeout_s: float = field(default=60.0, metadata={
        **bounds(gt=0), "help": "the health window's limit: fewer results than health_frames by then rolls back; also the "
                                 "shadow run's limit"})
    max_errors: int = field(default=0, metadata={
        **bounds(ge=0), "help": "frames the new model may fail in its health window (each is served by the old one)"})
    latency_budget_ms: float = field(default=0.0, metadata={
        **bounds(ge=0), "help": "p95 latency (prepare + invoke + decode) the new model must keep; 0: no budget"})
    max_trial_boots: int = field(default=1, metadata={
        **bounds(ge=1), "help": "process starts a model on trial gets before it is rolled back (crash on load)"})
    download_timeout_s: float = field(default=60.0, metadata={
        **bounds(gt=0), "help": "per-request timeout of an HTTP download; for MQTT chunks, the longest gap"})
    probe_timeout_s: float = field(default=60.0, metadata={
        **bounds(gt=0), "help": "loading the candidate in a second interpreter and running its goldens"})

    def __post_init__(self) -> None:
        check_bounds(self)
