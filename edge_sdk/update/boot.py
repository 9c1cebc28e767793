"""Which model serves at process start: the store's current slot, its rollback slot, or the configured one.

A start during a trial counts against the trial (see :class:`~edge_sdk.update.store.ModelStore`);
a trial model that raises while loading is rolled back at once rather than at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from edge_sdk.errors import EdgeSDKError
from edge_sdk.update.config import UpdateConfig
from edge_sdk.update.store import BootChoice, ModelStore

__all__ = ["Boot", "load_serving_model"]

_log = logging.getLogger(__name__)
M = TypeVar("M")


@dataclass(frozen=True)
class Boot:
    store: ModelStore
    choice: BootChoice
    base_path: Path


def load_serving_model(config: UpdateConfig, base_path: str | Path, load: Callable[[str | Path], M]) -> tuple[M, Boot]:
    store = ModelStore(config.store_dir)
    choice = store.boot(config.max_trial_boots)
    while choice.path is not None:
        try:
            return load(choice.path), Boot(store, choice, Path(base_path))
        except EdgeSDKError as exc:
            _log.error("installed model %s does not load (%s); rolling back", choice.path, exc)
            store.rollback()
            reason = f"v{choice.slot.version if choice.slot else '?'} failed to load: {exc}"
            fallback = store.boot(config.max_trial_boots)
            choice = BootChoice(fallback.path, fallback.slot, fallback.on_trial, reason)
    return load(base_path), Boot(store, choice, Path(base_path))
